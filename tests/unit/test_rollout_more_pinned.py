"""Staged rollout pinned further: every field of the check that rejects a version superseded by
a newer challenger, an empty interval counted once only, and `counted` telling one interval of
a version from another."""

from __future__ import annotations

from typing import Any

from orchestrator.core.rollout import NEWEST, counted
from tests.unit.modelgate_support import AT, SRC, W1, W2, data, decisions, outcome, update
from tests.unit.rollout_support import HOUR0, feed, perf, rgate, staged


def fields(c: Any) -> tuple[Any, ...]:
    return (c.name, c.passed, c.severity, c.observed, c.expected, c.code)


def test_a_superseded_version_s_rollout_check_is_pinned_in_full() -> None:
    """v2, held on W2, passes only after the newer v3 became challenger: its reject carries a
    failing `rollout` check, severity error, naming v3 as what superseded it and expecting the
    newest version that passed the gate to be the challenger (E_CHALLENGER_REPLACED)."""
    g = rgate()
    data(g, W1)
    g.handle(update("v1"), SRC, AT)
    assert outcome(g.handle(update("v2", auc=0.81, trained_on=[W2]), SRC, AT)) == ("hold",)
    g.handle(update("v3", auc=0.82), SRC, AT)
    assert g.challenger == "v3"
    (d,) = decisions(data(g, W2))
    assert (d.subject.id, d.outcome) == ("churn:v2", "reject")
    assert fields(d.checks[-1]) == (
        "rollout",
        False,
        "error",
        {"superseded_by": "v3"},
        NEWEST,
        "E_CHALLENGER_REPLACED",
    )
    assert NEWEST == "the newest version that passed the gate is the challenger"
    assert (g.challenger, g.versions["v2"].state) == ("v3", "rejected")


def test_an_empty_interval_counts_once_and_the_next_one_starts_where_it_is() -> None:
    """An empty interval of the challenger (12:00-12:00) counts; the same empty interval again
    under a fresh event id counts for nothing (no second good interval, so no crowning); the
    hour starting at 12:00 then counts, and crowns the challenger."""
    g = staged()
    empty = perf("p1", "v2", 0.84).model_copy(update={"interval_end": HOUR0})
    effects = feed(g, empty, 1)
    assert decisions(effects) == [] and counted(effects, empty)
    v = g.versions["v2"]
    assert [f["event_id"] for f in v.good] == ["p1"]
    again = empty.model_copy(update={"event_id": "p1-again"})
    effects = feed(g, again, 2)
    assert decisions(effects) == [] and not counted(effects, again)
    assert [f["event_id"] for f in v.good] == ["p1"] and g.champion == "v1"
    nxt = perf("p2", "v2", 0.84)
    effects = feed(g, nxt, 3)
    assert outcome(effects) == ("promote",) and counted(effects, nxt)
    assert g.champion == "v2"


def test_counted_tells_the_interval_counted_from_another_of_the_same_version() -> None:
    """`counted` reads the counted interval's event id from the version's changelog record: the
    effects of counting one interval say that one counted, and not another of that version."""
    g = staged()
    first = perf("p1", "v2", 0.84)
    effects = feed(g, first, 1)
    other = perf("p9", "v2", 0.84, hour=5)
    assert counted(effects, first) is True
    assert counted(effects, other) is False
