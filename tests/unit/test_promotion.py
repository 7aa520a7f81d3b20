"""The promotion table against an independent statement of SPEC §4 (not against itself)."""

from __future__ import annotations

import itertools

import pytest

from orchestrator.core.promotion import MOVES, TRANSITIONS, History, IllegalTransition, next_state

#: SPEC §4, written out by hand: (from, transition, to). Everything else is illegal.
ALLOWED = {
    # a new version is decided: lineage pending -> hold; all checks pass -> promote; else reject
    ("new", "hold", "held"),
    ("new", "promote", "promoted"),
    ("new", "reject", "rejected"),
    # staged rollout: a version that passes the gate is a challenger first
    ("new", "challenge", "challenger"),
    ("held", "challenge", "challenger"),
    # a challenger: enough good live intervals crown it, a bad one (or rejected lineage)
    # rejects it, or an operator forces it
    ("challenger", "promote", "promoted"),
    ("challenger", "reject", "rejected"),
    ("challenger", "override_promote", "promoted"),
    ("challenger", "override_reject", "rejected"),
    # a held version is decided again when its lineage is decided, or forced by an operator
    ("held", "promote", "promoted"),
    ("held", "reject", "rejected"),
    ("held", "override_promote", "promoted"),
    ("held", "override_reject", "rejected"),
    # a promoted version: its lineage turns reject (reject, or rollback for the champion), an
    # operator forces it, or it becomes champion again as a fallback or rollback target
    ("promoted", "reject", "rejected"),
    ("promoted", "rollback", "rolled_back"),
    ("promoted", "override_reject", "rejected"),
    ("promoted", "override_promote", "promoted"),
    ("promoted", "restore", "promoted"),
    # staged rollout: the champion's live metric degrades with nothing to fall back to: it
    # stays champion (audited `hold`)
    ("promoted", "keep", "promoted"),
    # a rejected version changes only by an operator's override
    ("rejected", "override_promote", "promoted"),
    ("rejected", "override_reject", "rejected"),
    # a rolled-back version: its lineage turns reject, an operator forces it, or it is restored
    ("rolled_back", "reject", "rejected"),
    ("rolled_back", "override_promote", "promoted"),
    ("rolled_back", "override_reject", "rejected"),
    ("rolled_back", "restore", "promoted"),
}
STATES = ["new", "held", "challenger", "promoted", "rejected", "rolled_back"]
OUTCOMES = [
    "hold",
    "challenge",
    "promote",
    "reject",
    "rollback",
    "override_promote",
    "override_reject",
    "restore",
    "keep",
]


@pytest.mark.parametrize(("state", "outcome"), list(itertools.product(STATES, OUTCOMES)))
def test_every_transition_is_what_the_spec_allows(state: str, outcome: str) -> None:
    """Each (state, outcome) leads where SPEC §4 says, or raises and changes nothing."""
    expected = {(s, o): t for s, o, t in ALLOWED}.get((state, outcome))
    if expected is None:
        with pytest.raises(IllegalTransition):
            next_state(state, outcome)  # type: ignore[arg-type]
    else:
        assert next_state(state, outcome) == expected  # type: ignore[arg-type]


def test_the_table_has_no_transition_the_spec_does_not() -> None:
    """No state or outcome beyond the spec's (a new entry must be stated above first)."""
    listed = {(s, o, t) for s, row in TRANSITIONS.items() for o, t in row.items()}
    assert listed == ALLOWED


def test_history_moves_are_the_spec_s() -> None:
    """Promote and restore crown (the version becomes champion); reject and rollback depose."""
    assert MOVES == {
        "promote": "crown",
        "override_promote": "crown",
        "restore": "crown",
        "reject": "depose",
        "override_reject": "depose",
        "rollback": "depose",
    }


def test_history_keeps_crowning_order_and_a_vacancy_wins_until_the_next_crowning() -> None:
    """The champion is the latest crowned; deposing it falls back to the one before; a vacancy
    means no champion at all until someone is crowned again."""
    h = History()
    assert h.champion is None
    h.move("v1", "promote", 1)
    h.move("v2", "promote", 2)
    assert h.champion == "v2" and h.newest_first() == ["v2", "v1"]
    h.move("v2", "rollback", 3)
    assert h.champion == "v1"
    h.move("v1", "restore", 4)
    h.vacate(5)
    assert h.champion is None and h.newest_first() == ["v1"]
    h.move("v3", "promote", 6)
    assert h.champion == "v3"
    h.move("v3", "hold", 7)  # no move for other transitions
    h.move("v3", "keep", 8)
    assert h.champion == "v3" and h.crowned["v3"] == 6
