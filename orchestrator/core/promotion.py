"""The promotion state machine of a model version, as tables (h11 style): the state a
transition leads to, and what it does to the champion history.

An outcome the table does not list for the current state is our bug: it raises and changes
nothing. The champion history is the versions that were crowned, in crowning order; the last
one is the champion. Only a transition moves a version in or out of it.
"""

from __future__ import annotations

from typing import Literal

from orchestrator.errors import InvariantViolation

State = Literal["new", "held", "challenger", "promoted", "rejected", "rolled_back"]
Move = Literal["crown", "depose"]

#: state -> transition -> next state
TRANSITIONS: dict[State, dict[str, State]] = {
    "new": {"hold": "held", "promote": "promoted", "reject": "rejected", "challenge": "challenger"},
    "held": {
        "promote": "promoted",
        "reject": "rejected",
        "challenge": "challenger",
        "override_promote": "promoted",
        "override_reject": "rejected",
    },
    # staged rollout: passed the gate, serving beside the champion until its live metrics
    # crown it (promote) or fail it (reject); lineage and operators act on it as on a champion
    "challenger": {
        "promote": "promoted",
        "reject": "rejected",
        "override_promote": "promoted",
        "override_reject": "rejected",
    },
    # keep: a champion whose live metric degraded with no version to fall back to stays
    # champion (the degradation is audited, `hold`); it moves nothing in the champion history
    "promoted": {
        "keep": "promoted",
        "reject": "rejected",
        "rollback": "rolled_back",
        "override_reject": "rejected",
        "override_promote": "promoted",
        "restore": "promoted",
    },
    "rejected": {"override_promote": "promoted", "override_reject": "rejected"},
    "rolled_back": {
        "reject": "rejected",
        "override_promote": "promoted",
        "override_reject": "rejected",
        "restore": "promoted",
    },
}

#: transition -> what it does to the version's place in the champion history: crowned versions
#: go to the top (they become champion), deposed ones leave it (a fallback never picks them);
#: `challenge` and `keep` do neither (a challenger is not in the champion history; a kept
#: champion stays where it is).
MOVES: dict[str, Move] = {
    "promote": "crown",
    "override_promote": "crown",
    "restore": "crown",
    "reject": "depose",
    "override_reject": "depose",
    "rollback": "depose",
}


class IllegalTransition(InvariantViolation):
    """An outcome that the promotion table does not allow from the current state."""


def next_state(state: State, outcome: str) -> State:
    """The state after `outcome`, or IllegalTransition."""
    try:
        return TRANSITIONS[state][outcome]
    except KeyError:
        raise IllegalTransition(f"{outcome!r} is not allowed from state {state!r}") from None


class History:
    """The champion history of one model: version -> crowning sequence number, and when the
    throne was last left vacant (a rollback with no clean version to fall back to)."""

    __slots__ = ("crowned", "vacant")

    def __init__(self) -> None:
        self.crowned: dict[str, int] = {}
        self.vacant: int | None = None

    @property
    def champion(self) -> str | None:
        if not self.crowned:
            return None
        top = max(self.crowned, key=self.crowned.__getitem__)
        if self.vacant is not None and self.vacant > self.crowned[top]:
            return None
        return top

    def vacate(self, seq: int) -> None:
        """No version is champion from now on (until the next crowning, with a higher seq)."""
        self.vacant = seq

    def newest_first(self) -> list[str]:
        return sorted(self.crowned, key=self.crowned.__getitem__, reverse=True)

    def move(self, version: str, transition: str, seq: int) -> None:
        """Apply the history move of `transition` (crowning takes sequence number `seq`)."""
        move = MOVES.get(transition)
        if move == "crown":
            self.crowned[version] = seq
        elif move == "depose":
            self.crowned.pop(version, None)
