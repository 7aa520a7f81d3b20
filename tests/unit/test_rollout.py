"""Staged rollout and rollback on live degradation (SPEC §4, issue #15): a version that passes
the gate is a challenger until enough live intervals crown it; a bad interval rejects it; a
champion whose live metric degrades is rolled back; without `rollout` nothing changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from orchestrator.contracts.events import CommandOverride, ModelPerformance
from orchestrator.core.access import signed
from orchestrator.core.digest import digest
from orchestrator.core.effects import Rejected, StateDelete, StatePut
from orchestrator.core.modelspec import Guard, Rollout
from orchestrator.core.rollout import counted
from orchestrator.demo import rollout_lines
from orchestrator.policies import ModelPolicy, policy_digest
from tests.unit.modelgate_support import (
    AT,
    KEY_ALICE,
    NOW,
    SRC,
    W1,
    W2,
    data,
    decisions,
    gate,
    outcome,
    restored,
    update,
)
from tests.unit.rollout_support import HOUR0, K, champions, crowned_v2, feed, perf, rgate, staged


def test_a_version_that_passes_the_gate_becomes_challenger_not_champion() -> None:
    g = rgate()
    data(g, W1)
    g.handle(update("v1"), SRC, AT)
    effects = g.handle(update("v2", auc=0.81), SRC, AT)
    (d,) = decisions(effects)
    assert (d.outcome, d.champion_before, d.champion_after) == ("promote", "v1", "v1")
    assert d.checks[-1].name == "rollout" and d.checks[-1].observed == {"stage": "challenger"}
    assert champions(effects) == [("v1", "v2")]
    assert g.versions["v2"].state == "challenger"


def test_the_challenger_is_crowned_after_n_good_intervals() -> None:
    """Each interval no worse than the champion's live figure beyond the tolerance counts; the
    N-th crowns it, with the intervals and the guard as evidence."""
    g = staged()
    assert decisions(feed(g, perf("p-c", "v1", 0.80), 0)) == []  # the champion's live figure
    assert decisions(feed(g, perf("p1", "v2", 0.785), 1)) == []  # 0.80 - 0.02 <= 0.785
    effects = feed(g, perf("p2", "v2", 0.79, hour=1), 2)
    (d,) = decisions(effects)
    assert (d.outcome, d.champion_before, d.champion_after) == ("promote", "v1", "v2")
    (c,) = d.checks
    assert (c.name, c.passed, c.code) == ("live_guard", True, "OK")
    assert [f["event_id"] for f in c.observed] == ["p1", "p2"]
    assert [f["value"] for f in c.observed] == [0.785, 0.79]
    assert c.expected["champion"] == "v1" and c.expected["live"]["value"] == 0.80
    assert c.expected["metric"] == "auc" and c.expected["tolerance"] == 0.02
    assert d.inputs.event_ids[-3:] == ["p1", "p2", "p-c"]
    assert [o.offset for o in d.inputs.offsets] == [0, 101, 102, 100]
    assert champions(effects) == [("v2", None)]
    assert (g.champion, g.challenger, g.versions["v2"].good) == ("v2", None, [])


def test_without_a_live_figure_of_the_champion_the_challenger_meets_its_own_validation() -> None:
    g = staged(challenger_auc=0.85)
    (d,) = decisions(feed(g, perf("p1", "v2", 0.82), 1))  # 0.82 < 0.85 - 0.02
    assert (d.outcome, d.checks[0].code) == ("reject", "E_LIVE_DEGRADED")
    assert d.checks[0].expected["validation"] == 0.85


def test_one_bad_interval_rejects_the_challenger() -> None:
    g = staged()
    feed(g, perf("p-c", "v1", 0.80), 0)
    feed(g, perf("p1", "v2", 0.80), 1)
    effects = feed(g, perf("p2", "v2", 0.77, hour=1), 2)  # worse than 0.80 - 0.02
    (d,) = decisions(effects)
    assert (d.outcome, d.champion_before, d.champion_after) == ("reject", "v1", "v1")
    assert [(c.name, c.code) for c in d.checks] == [("live_guard", "E_LIVE_DEGRADED")]
    assert d.checks[0].observed[0]["value"] == 0.77
    assert "p2" in d.inputs.event_ids
    assert champions(effects) == [("v1", None)]
    assert g.versions["v2"].state == "rejected" and g.challenger is None


@pytest.mark.parametrize(
    "interval",
    [
        perf("p1", "v2", 0.10, samples=K - 1),  # too few samples
        perf("p1", "v2", None),  # no figure for the guard metric
        perf("p1", "v9", 0.10),  # an unknown version
    ],
    ids=["below-min-samples", "no-guard-metric", "unknown-version"],
)
def test_an_interval_that_cannot_count_is_ignored(interval: ModelPerformance) -> None:
    """No decision, no count; the event id is still remembered (deduped)."""
    g = staged()
    effects = feed(g, interval)
    assert decisions(effects) == [] and champions(effects) == []
    assert g.versions["v2"].good == [] and g.versions["v2"].last is None
    assert interval.event_id in g.seen


def test_an_interval_of_a_version_no_longer_in_the_rollout_is_ignored() -> None:
    g = staged()
    feed(g, perf("p1", "v2", 0.10), 1)  # rejected
    assert decisions(feed(g, perf("p2", "v2", 0.10), 2)) == []
    assert g.versions["v2"].revision == 2


def test_a_repeated_interval_is_a_duplicate_and_a_changed_one_a_conflict() -> None:
    g = staged()
    feed(g, perf("p1", "v2", 0.80), 1)
    assert feed(g, perf("p1", "v2", 0.80), 1) == []
    (r,) = [e for e in feed(g, perf("p1", "v2", 0.70), 1) if isinstance(e, Rejected)]
    assert r.code == "E_DUPLICATE_CONFLICT"
    assert len(g.versions["v2"].good) == 1


@pytest.mark.parametrize(
    ("start", "hours"),
    [(0, 1), (0, 2), (-1, 2), (-1, 1), (0, 0)],
    ids=["same-interval", "overlapping", "covering", "earlier", "empty-at-its-start"],
)
def test_an_interval_overlapping_or_older_than_one_counted_counts_for_nothing(
    start: int, hours: int
) -> None:
    """The challenger's 12:00-13:00 counted; another interval of it under a fresh event id that
    starts before 13:00 (the same again, overlapping, or older) is ignored like one with too few
    samples: no decision, no count, no new live figure; the next hour then counts (and crowns)."""
    g = staged()
    feed(g, perf("p1", "v2", 0.80), 1)
    begin = HOUR0 + timedelta(hours=start)
    repeat = perf("p1-again", "v2", 0.80).model_copy(
        update={"interval_start": begin, "interval_end": begin + timedelta(hours=hours)}
    )
    effects = feed(g, repeat, 2)
    assert decisions(effects) == [] and champions(effects) == []
    assert not counted(effects, repeat)
    v = g.versions["v2"]
    assert [f["event_id"] for f in v.good] == ["p1"] and v.last is not None
    assert v.last["event_id"] == "p1" and "p1-again" in g.seen
    nxt = perf("p2", "v2", 0.80, hour=1)
    effects = feed(g, nxt, 3)
    assert outcome(effects) == ("promote",) and g.champion == "v2"
    assert counted(effects, nxt)


def test_a_repeated_degraded_interval_of_the_champion_is_decided_once() -> None:
    """A lone champion's degraded interval re-sent under another event id: one audit decision."""
    g = rgate()
    data(g, W1)
    g.handle(update("v1"), SRC, AT)
    assert outcome(feed(g, perf("p1", "v1", 0.5), 1)) == ("hold",)
    assert decisions(feed(g, perf("p1-again", "v1", 0.5), 2)) == []
    assert g.versions["v1"].revision == 2


def test_counted_says_what_the_gate_did_with_an_interval() -> None:
    """The shell's view (`counted`, from the effects) agrees with the gate for each kind of
    interval: counted, too few samples, another version's, a repeat, and a duplicate."""
    g = staged()
    cases = [
        (perf("p1", "v2", 0.80), True),
        (perf("few", "v2", 0.80, samples=K - 1, hour=1), False),
        (perf("v9", "v9", 0.80, hour=1), False),
        (perf("p1-again", "v2", 0.80), False),
        (perf("p1", "v2", 0.80), False),  # the same event again: no effects at all
        (perf("p-c", "v1", 0.80), True),
    ]
    for i, (p, expected) in enumerate(cases):
        assert counted(feed(g, p, i), p) is expected, p.event_id


def test_an_older_version_that_passes_later_does_not_replace_a_newer_challenger() -> None:
    """v2 (held on W2) passes only after v3 became challenger: v3 stays challenger, v2 is
    rejected on a failing `rollout` check (superseded by v3, E_CHALLENGER_REPLACED) with its
    passing gate checks beside it; no champions record (nothing changed)."""
    g = rgate()
    data(g, W1)
    g.handle(update("v1"), SRC, AT)
    assert outcome(g.handle(update("v2", auc=0.81, trained_on=[W2]), SRC, AT)) == ("hold",)
    g.handle(update("v3", auc=0.82), SRC, AT)
    feed(g, perf("p1", "v3", 0.82), 1)
    effects = data(g, W2)
    (d,) = decisions(effects)
    assert (d.subject.id, d.outcome, d.champion_before, d.champion_after) == (
        "churn:v2",
        "reject",
        "v1",
        "v1",
    )
    *gate_checks, stage = d.checks
    assert all(c.passed for c in gate_checks) and gate_checks
    assert (stage.name, stage.passed, stage.code) == ("rollout", False, "E_CHALLENGER_REPLACED")
    assert stage.observed == {"superseded_by": "v3"}
    assert champions(effects) == []
    assert (g.challenger, g.versions["v2"].state) == ("v3", "rejected")
    assert len(g.versions["v3"].good) == 1


def test_a_newer_version_that_passes_later_replaces_an_older_challenger() -> None:
    """The other order: v3 (held on W2) passes while v2 is challenger: v3 replaces it."""
    g = staged()
    g.handle(update("v3", auc=0.82, trained_on=[W2]), SRC, AT)
    effects = data(g, W2)
    old, new = decisions(effects)
    assert (old.subject.id, old.outcome, old.checks[0].observed) == (
        "churn:v2",
        "reject",
        {"replaced_by": "v3"},
    )
    assert (new.subject.id, new.outcome) == ("churn:v3", "promote")
    assert champions(effects) == [("v1", "v3")]


def test_a_newer_version_replaces_the_challenger() -> None:
    g = staged()
    feed(g, perf("p1", "v2", 0.80), 1)
    effects = g.handle(update("v3", auc=0.82), SRC, AT)
    old, new = decisions(effects)
    assert (old.subject.id, old.outcome, old.checks[0].code) == (
        "churn:v2",
        "reject",
        "E_CHALLENGER_REPLACED",
    )
    assert (new.subject.id, new.outcome) == ("churn:v3", "promote")
    assert champions(effects) == [("v1", "v3")]
    assert g.challenger == "v3"


def test_a_champion_whose_live_metric_degrades_is_rolled_back_to_the_previous_one() -> None:
    """Against its own validation figure (0.81 - 0.02): rollback to v1, E_LIVE_DEGRADED."""
    g = crowned_v2()
    effects = feed(g, perf("p3", "v2", 0.78, hour=2), 3)
    (d,) = decisions(effects)
    assert (d.subject.id, d.outcome) == ("churn:v2", "rollback")
    assert (d.champion_before, d.champion_after) == ("v2", "v1")
    (c,) = d.checks
    assert (c.name, c.code, c.observed[0]["event_id"]) == ("live_guard", "E_LIVE_DEGRADED", "p3")
    assert c.expected["validation"] == 0.81
    assert champions(effects) == [("v1", None)]
    assert (g.versions["v2"].state, g.versions["v1"].state) == ("rolled_back", "promoted")


def test_a_champion_worse_than_the_previous_champion_s_live_figure_is_rolled_back() -> None:
    """0.80 is within its own guard (0.81 - 0.02) but worse than v1 served (0.85 - 0.02)."""
    g = crowned_v2(v1_live=0.85)
    (d,) = decisions(feed(g, perf("p3", "v2", 0.80, hour=2), 3))
    assert (d.outcome, d.champion_after) == ("rollback", "v1")
    assert d.checks[0].expected["previous_champion"] == "v1"
    assert d.checks[0].expected["previous_live"]["value"] == 0.85
    assert d.inputs.event_ids[-2:] == ["p3", "p-c"]


def test_a_healthy_champion_interval_is_only_remembered() -> None:
    g = crowned_v2()
    assert decisions(feed(g, perf("p3", "v2", 0.80, hour=2), 3)) == []
    assert g.versions["v2"].last is not None and g.versions["v2"].last["value"] == 0.80


def test_a_lone_champion_that_degrades_keeps_serving_and_the_degradation_is_audited() -> None:
    """No earlier clean champion to fall back to: v1 stays champion (nothing left to serve
    would be worse), decided `hold` with its failing live_guard (E_LIVE_DEGRADED) and a failing
    rollback_target check (E_NO_ROLLBACK_TARGET), the interval as evidence; no champions record."""
    g = rgate()
    data(g, W1)
    g.handle(update("v1"), SRC, AT)
    effects = feed(g, perf("p1", "v1", 0.5), 1)
    (d,) = decisions(effects)
    assert (d.subject.id, d.outcome) == ("churn:v1", "hold")
    assert (d.champion_before, d.champion_after) == ("v1", "v1")
    assert [(c.name, c.passed, c.code) for c in d.checks] == [
        ("live_guard", False, "E_LIVE_DEGRADED"),
        ("rollback_target", False, "E_NO_ROLLBACK_TARGET"),
    ]
    assert d.checks[1].observed == {"champion": "v1", "target": None}
    assert d.inputs.event_ids[-1] == "p1"
    assert champions(effects) == []
    assert (g.champion, g.versions["v1"].state) == ("v1", "promoted")
    assert g.versions["v1"].last is not None and g.versions["v1"].last["value"] == 0.5
    # each further degraded interval is decided again; a healthy one only remembered
    (again,) = decisions(feed(g, perf("p2", "v1", 0.6, hour=1), 2))
    assert (again.outcome, again.revision, again.supersedes) == ("hold", 3, d.decision_id)
    assert decisions(feed(g, perf("p3", "v1", 0.8, hour=2), 3)) == []
    assert g.champion == "v1"


def test_a_challenger_whose_lineage_is_retracted_is_rejected() -> None:
    g = staged()
    effects = data(g, W1, "reject", rev=2)
    assert [(d.subject.id, d.outcome) for d in decisions(effects)][-1] == ("churn:v2", "reject")
    assert g.challenger is None


def override(outcome: str) -> CommandOverride:
    cmd = CommandOverride(
        event_id=f"o-{outcome}",
        issued_at=AT,
        nonce=f"nonce-override-{outcome}-xxxxxxxx",
        subject="churn:v2",
        outcome=outcome,  # type: ignore[arg-type]
        actor="alice",
        reason="hand-checked",
        signature="0",
    )
    return signed(cmd, KEY_ALICE)


@pytest.mark.parametrize(("forced", "after"), [("promote", ("v2", None)), ("reject", ("v1", None))])
def test_an_operator_override_decides_the_challenger(forced: str, after: tuple[str, None]) -> None:
    """Promote crowns it at once, reject drops it; either way the challenger is gone and the
    champions record says so."""
    g = staged()
    effects = g.handle(override(forced), SRC, AT, None, NOW)
    assert outcome(effects) == ("override",)
    assert champions(effects) == [after]
    assert g.challenger is None and g.champion == after[0]


def test_without_rollout_live_metrics_change_nothing() -> None:
    """No `rollout`: a passing version is champion at once and intervals decide nothing."""
    g = gate()
    data(g, W1)
    g.handle(update("v1"), SRC, AT)
    effects = g.handle(update("v2", auc=0.81), SRC, AT)
    assert outcome(effects) == ("promote",) and champions(effects) == [("v2", None)]
    assert decisions(feed(g, perf("p1", "v2", 0.1), 1)) == []
    assert g.champion == "v2" and g.versions["v2"].last is None


SCRIPT: list[tuple[str, Any]] = [
    ("notice", W1),
    ("update", update("v1")),
    ("update", update("v2", auc=0.81)),
    ("perf", perf("p0", "v1", 0.80)),
    ("perf", perf("p1", "v2", 0.79)),
    ("perf", perf("p2", "v2", 0.70, samples=5, hour=1)),
    ("perf", perf("p1-again", "v2", 0.79)),  # p1's interval again: counts for nothing
    ("perf", perf("p3", "v2", 0.80, hour=1)),
    ("update", update("v3", auc=0.83)),
    ("perf", perf("p4", "v2", 0.70, hour=2)),
    ("perf", perf("p5", "v3", 0.83, hour=2)),
    ("perf", perf("p6", "v3", 0.83, hour=3)),
]


def run(script: list[tuple[str, Any]], restore_each: bool) -> list[bytes]:
    """The decisions of the script, the gate rebuilt from its changelog after each input."""
    g = rgate()
    state: dict[str, Any] = {}
    out = []
    for i, (kind, item) in enumerate(script):
        if kind == "notice":
            effects = data(g, item)
        elif kind == "update":
            effects = g.handle(item, SRC, AT)
        else:
            effects = feed(g, item, i)
        out += [orjson.dumps(d.model_dump(mode="json")) for d in decisions(effects)]
        out += [orjson.dumps(c) for c in champions(effects)]
        for e in effects:
            if isinstance(e, StatePut):
                state[e.key] = e.value
            elif isinstance(e, StateDelete):
                state.pop(e.key, None)
        if restore_each:
            g = restored(g, state)
    return out


def test_a_restore_mid_rollout_gives_the_same_decisions() -> None:
    """The changelog holds the challenger's counted intervals and the live figures."""
    assert run(SCRIPT, restore_each=True) == run(SCRIPT, restore_each=False)
    assert len(run(SCRIPT, restore_each=False)) >= 8


def test_live_state_is_bounded() -> None:
    """A thousand champion intervals: the version's record holds only the latest figure."""
    g = crowned_v2()
    sizes = []
    for i in range(1000):
        effects = feed(g, perf(f"q{i}", "v2", 0.83, hour=2 + i), i)
        sizes += [len(orjson.dumps(e.value)) for e in effects if isinstance(e, StatePut)]
    assert max(sizes[-10:]) <= max(sizes[:10]) + 8


POLICY: dict[str, Any] = {
    "kind": "model",
    "name": "churn",
    "version": 2,
    "datasets": ["clicks"],
    "required_metrics": ["auc", "logloss"],
    "primary_metric": {"name": "auc", "direction": "max", "tolerance": 0.005},
}


def test_the_policy_s_rollout_is_parsed_into_the_gate_spec() -> None:
    guard = {"metric": "auc", "direction": "max", "tolerance": 0.02}
    rollout = {"challenger_windows": 3, "min_samples": 1000, "guard": guard}
    spec = ModelPolicy.model_validate({**POLICY, "rollout": rollout}).gate_spec()
    assert spec.rollout == Rollout(3, 1000, Guard("auc", "max", 0.02))


@pytest.mark.parametrize(
    "rollout",
    [
        {"challenger_windows": 0, "guard": {"metric": "auc", "direction": "max"}},
        {
            "challenger_windows": 1,
            "min_samples": -1,
            "guard": {"metric": "auc", "direction": "max"},
        },
        {"challenger_windows": 1, "guard": {"metric": "auc", "direction": "up"}},
        {"challenger_windows": 1, "guard": {"metric": "f1", "direction": "max"}},
        {"challenger_windows": 1, "guard": {"metric": "auc", "direction": "max", "tolerance": -1}},
    ],
    ids=["no-windows", "negative-samples", "bad-direction", "unvalidated-metric", "negative-tol"],
)
def test_a_bad_rollout_is_refused(rollout: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ModelPolicy.model_validate({**POLICY, "rollout": rollout})


def test_a_policy_without_rollout_keeps_its_digest() -> None:
    """Decisions of policies without `rollout` (or the keys added after it, `retrain_on`)
    keep their ids (the keys are left out)."""
    dumped = ModelPolicy.model_validate(POLICY).model_dump(mode="json")
    del dumped["rollout"], dumped["retrain_on"]
    assert policy_digest(ModelPolicy.model_validate(POLICY)) == digest(dumped)


def test_the_demo_summary_names_a_kept_champion_and_a_superseded_version() -> None:
    """The demo's rollout lines read the two decisions staged rollouts gained: an older version
    superseded by the challenger, and a degraded champion kept for want of a rollback target."""
    g = rgate()
    data(g, W1)
    out = decisions(g.handle(update("v1"), SRC, AT))
    out += decisions(g.handle(update("v2", auc=0.81, trained_on=[W2]), SRC, AT))
    out += decisions(g.handle(update("v3", auc=0.82), SRC, AT))
    out += decisions(feed(g, perf("p1", "v1", 0.5), 1))
    out += decisions(data(g, W2))
    lines = rollout_lines([d.model_dump(mode="json") for d in out], {"churn": g.challenger})
    assert lines == [
        "staged rollout    churn:v2 passed, superseded by challenger v3",
        "live degradation  champion churn:v1 kept (no rollback target), E_LIVE_DEGRADED "
        "(live auc 0.5 vs validation 0.8, tolerance 0.02)",
        "challengers now   churn:v3 challenger",
    ]
