"""Staged rollout pinned down where mutation testing found no test looking: every field of the
rollout and live-guard checks (names, severities, observed figures, expected baselines, codes),
the decisions' times, champions and inputs, and the state a decision leaves behind."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from orchestrator.contracts.events import ModelPerformance, ModelUpdate
from orchestrator.core.effects import Effect
from orchestrator.core.modelgate import ModelGate
from tests.unit.modelgate_support import AT, SRC, W1, data, decisions, update
from tests.unit.rollout_support import K, champions, crowned_v2, perf, psrc, rgate, staged

LATER = AT + timedelta(hours=3)  # the time of the input under test, unlike the setup's AT
GUARD = {"metric": "auc", "direction": "max", "tolerance": 0.02}


def at_later(g: ModelGate, item: Any, offset: int = 0) -> list[Effect]:
    """Handle an update or an interval at LATER."""
    source = SRC if isinstance(item, ModelUpdate) else psrc(offset)
    return g.handle(item, source, LATER)


def shown(eid: str, value: float, samples: int = 1000, hour: int = 0) -> dict[str, Any]:
    """An interval as a live_guard check shows it: everything but where it was read (`hour`:
    as `perf`'s)."""
    return {
        "event_id": eid,
        "value": value,
        "sample_count": samples,
        "interval_start": f"2026-11-23T{12 + hour}:00:00+00:00",
        "interval_end": f"2026-11-23T{13 + hour}:00:00+00:00",
    }


def fields(c: Any) -> tuple[Any, ...]:
    return (c.name, c.passed, c.severity, c.observed, c.expected, c.code)


# -- entering the rollout ----------------------------------------------------------------------


def test_the_first_version_under_a_rollout_is_champion_outright_at_the_time_given() -> None:
    """Nothing to stage against: promote from no champion to v1, with the gate's checks only,
    decided at the time the update was handled."""
    g = rgate()
    data(g, W1)
    (d,) = decisions(at_later(g, update("v1")))
    assert (d.outcome, d.champion_before, d.champion_after) == ("promote", None, "v1")
    assert d.decided_at == LATER
    assert "rollout" not in [c.name for c in d.checks]
    assert g.champion == "v1" and g.challenger is None


def test_staging_records_the_rollout_check_with_the_whole_rollout_as_expected() -> None:
    """The challenger's promote carries a passing `rollout` check: stage challenger observed,
    the rollout's windows, min_samples and guard expected, severity error, code OK."""
    g = rgate()
    data(g, W1)
    g.handle(update("v1"), SRC, AT)
    (d,) = decisions(at_later(g, update("v2", auc=0.81)))
    assert fields(d.checks[-1]) == (
        "rollout",
        True,
        "error",
        {"stage": "challenger"},
        {"challenger_windows": 2, "min_samples": K, "guard": GUARD},
        "OK",
    )
    assert d.decided_at == LATER


def test_a_replaced_challenger_is_rejected_with_its_evidence_and_forgets_its_intervals() -> None:
    """v3 passes while v2 is challenger with one counted interval: v2 is rejected (champion v1
    before and after) on a failing `rollout` check naming v3, at the time of v3's update."""
    g = staged()
    at_later(g, perf("p1", "v2", 0.84), 1)
    assert len(g.versions["v2"].good) == 1
    old, new = decisions(at_later(g, update("v3", auc=0.82)))
    assert (old.subject.id, old.outcome) == ("churn:v2", "reject")
    assert (old.champion_before, old.champion_after) == ("v1", "v1")
    assert [fields(c) for c in old.checks] == [
        (
            "rollout",
            False,
            "error",
            {"replaced_by": "v3"},
            "the newest version that passed the gate is the challenger",
            "E_CHALLENGER_REPLACED",
        )
    ]
    assert old.decided_at == LATER and new.decided_at == LATER
    assert g.versions["v2"].good == []


# -- judging the challenger --------------------------------------------------------------------


def test_a_crowned_challenger_s_check_shows_its_intervals_and_the_champion_s_live_figure() -> None:
    """The N-th good interval crowns v2: the live_guard check shows the counted intervals (no
    source), expects the guard, the champion's live interval and the window count; the decision
    rests on the update, its lineage and the intervals, and is decided when the last arrived."""
    g = staged()
    g.handle(perf("p-c", "v1", 0.80), psrc(0), AT)
    g.handle(perf("p1", "v2", 0.785), psrc(1), AT)
    effects = at_later(g, perf("p2", "v2", 0.79, hour=1), 2)
    (d,) = decisions(effects)
    assert (d.outcome, d.champion_before, d.champion_after) == ("promote", "v1", "v2")
    assert d.decided_at == LATER
    assert [fields(c) for c in d.checks] == [
        (
            "live_guard",
            True,
            "error",
            [shown("p1", 0.785), shown("p2", 0.79, hour=1)],
            {**GUARD, "champion": "v1", "live": shown("p-c", 0.80), "challenger_windows": 2},
            "OK",
        )
    ]
    assert d.inputs.event_ids == ["u-v2", f"d-{W1}-1", "p1", "p2", "p-c"]
    assert champions(effects) == [("v2", None)]


def test_a_challenger_rejected_against_its_validation_figure_shows_the_baseline() -> None:
    """The champion has no live figure: a bad interval fails the live_guard check against the
    challenger's own validation figure (champion named), and its counted intervals go."""
    g = staged(challenger_auc=0.85)
    g.handle(perf("p1", "v2", 0.84), psrc(1), AT)  # 0.84 >= 0.85 - 0.02: counted
    assert len(g.versions["v2"].good) == 1
    (d,) = decisions(at_later(g, perf("p2", "v2", 0.82, hour=1), 2))  # 0.82 < 0.83: rejected
    assert (d.outcome, d.champion_before, d.champion_after) == ("reject", "v1", "v1")
    assert d.decided_at == LATER
    (c,) = d.checks
    assert c.passed is False
    assert fields(c) == (
        "live_guard",
        False,
        "error",
        [shown("p2", 0.82, hour=1)],
        {**GUARD, "champion": "v1", "validation": 0.85},
        "E_LIVE_DEGRADED",
    )
    assert d.inputs.event_ids == ["u-v2", f"d-{W1}-1", "p1", "p2"]
    assert g.versions["v2"].good == [] and g.versions["v2"].state == "rejected"


@pytest.mark.parametrize(
    ("samples", "counted"),
    [(K - 1, False), (K, True), (K + 1, True)],
    ids=["one-short", "exactly-min-samples", "one-over"],
)
def test_an_interval_counts_from_exactly_min_samples(samples: int, counted: bool) -> None:
    """`min_samples` is the least that counts: an interval of exactly that many samples is
    remembered and counted."""
    g = staged()
    g.handle(perf("p1", "v2", 0.84, samples=samples), psrc(1), AT)
    v = g.versions["v2"]
    assert (v.last is not None, len(v.good)) == (counted, int(counted))


# -- guarding the champion ---------------------------------------------------------------------


def test_a_rollback_on_live_degradation_is_recorded_in_full_and_crowns_the_target() -> None:
    """v2 degrades below its validation figure: rollback at the interval's time, an error
    live_guard check with the figure and the guard, and v1 champion again."""
    g = crowned_v2()
    effects = at_later(g, perf("p3", "v2", 0.78, hour=2), 3)
    (d,) = decisions(effects)
    assert (d.outcome, d.champion_before, d.champion_after) == ("rollback", "v2", "v1")
    assert d.decided_at == LATER
    assert [fields(c) for c in d.checks] == [
        (
            "live_guard",
            False,
            "error",
            [shown("p3", 0.78, hour=2)],
            {**GUARD, "validation": 0.81, "previous_champion": None, "previous_live": None},
            "E_LIVE_DEGRADED",
        )
    ]
    assert champions(effects) == [("v1", None)]
    assert g.champion == "v1"
    assert g.versions["v1"].state == "promoted" and g.versions["v2"].state == "rolled_back"


def test_a_degraded_lone_champion_keeps_serving_beside_its_challenger() -> None:
    """v1 degrades with no earlier champion to fall back to while v2 is challenger: v1 stays
    champion and v2 challenger (no champions record), the decision `hold` at the interval's time
    with the live_guard and rollback_target checks in full; v2 is then judged against v1's
    degraded live figure."""
    g = staged()
    effects = at_later(g, perf("p1", "v1", 0.5), 1)
    (d,) = decisions(effects)
    assert (d.subject.id, d.outcome, d.champion_before, d.champion_after) == (
        "churn:v1",
        "hold",
        "v1",
        "v1",
    )
    assert d.decided_at == LATER
    assert [fields(c) for c in d.checks] == [
        (
            "live_guard",
            False,
            "error",
            [shown("p1", 0.5)],
            {**GUARD, "validation": 0.8, "previous_champion": None, "previous_live": None},
            "E_LIVE_DEGRADED",
        ),
        (
            "rollback_target",
            False,
            "error",
            {"champion": "v1", "target": None},
            "previous clean champion",
            "E_NO_ROLLBACK_TARGET",
        ),
    ]
    assert d.inputs.event_ids == ["u-v1", f"d-{W1}-1", "p1"]
    assert champions(effects) == []
    assert (g.champion, g.challenger, g.versions["v1"].state) == ("v1", "v2", "promoted")
    g.handle(perf("p2", "v2", 0.52), psrc(2), AT)
    (crowned,) = decisions(g.handle(perf("p3", "v2", 0.52, hour=1), psrc(3), AT))
    assert (crowned.outcome, crowned.checks[0].expected["live"]["value"]) == ("promote", 0.5)


# -- what a live decision rests on -------------------------------------------------------------


def crowning_digest(v2: ModelUpdate, second: ModelPerformance) -> tuple[str, str]:
    """Inputs digest and decision id of v2's crowning after p1 and `second`."""
    g = rgate()
    data(g, W1)
    g.handle(update("v1"), SRC, AT)
    g.handle(v2, SRC, AT)
    g.handle(perf("p1", "v2", 0.84), psrc(1), AT)
    (d,) = decisions(g.handle(second, psrc(2), AT))
    assert d.outcome == "promote"
    return d.inputs.digest, d.decision_id


def test_a_live_decision_s_inputs_digest_covers_the_update_and_the_intervals() -> None:
    """The same inputs give the same digest and id; another update (one more metric) or another
    interval figure gives another."""
    base = crowning_digest(update("v2", auc=0.81), perf("p2", "v2", 0.84, hour=1))
    again = crowning_digest(update("v2", auc=0.81), perf("p2", "v2", 0.84, hour=1))
    other_update = crowning_digest(update("v2", auc=0.81, f1=0.5), perf("p2", "v2", 0.84, hour=1))
    other_interval = crowning_digest(update("v2", auc=0.81), perf("p2", "v2", 0.85, hour=1))
    assert base == again
    assert len({base[0], other_update[0], other_interval[0]}) == 3
    assert len({base[1], other_update[1], other_interval[1]}) == 3
