"""The promotion state machine of a model version, as a table (h11 style).

An outcome moves a version from one state to another; an outcome the table does not list for
the current state is our bug: it raises and changes nothing.
"""

from __future__ import annotations

from typing import Literal

from orchestrator.errors import InvariantViolation

State = Literal["new", "held", "promoted", "rejected", "rolled_back"]

#: state -> outcome -> next state
TRANSITIONS: dict[State, dict[str, State]] = {
    "new": {"hold": "held", "promote": "promoted", "reject": "rejected"},
    "held": {
        "promote": "promoted",
        "reject": "rejected",
        "override_promote": "promoted",
        "override_reject": "rejected",
    },
    "promoted": {
        "reject": "rejected",
        "rollback": "rolled_back",
        "override_reject": "rejected",
        "override_promote": "promoted",
    },
    "rejected": {"override_promote": "promoted", "override_reject": "rejected"},
    "rolled_back": {
        "reject": "rejected",
        "override_promote": "promoted",
        "override_reject": "rejected",
        "restore": "promoted",
    },
}


class IllegalTransition(InvariantViolation):
    """An outcome that the promotion table does not allow from the current state."""


def next_state(state: State, outcome: str) -> State:
    """The state after `outcome`, or IllegalTransition."""
    try:
        return TRANSITIONS[state][outcome]
    except KeyError:
        raise IllegalTransition(f"{outcome!r} is not allowed from state {state!r}") from None
