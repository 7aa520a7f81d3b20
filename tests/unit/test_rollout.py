"""Staged rollout and rollback on live degradation (SPEC §4, issue #15): a version that passes
the gate is a challenger until enough live intervals crown it; a bad interval rejects it; a
champion whose live metric degrades is rolled back; without `rollout` nothing changes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from orchestrator.contracts.events import CommandOverride, ModelPerformance
from orchestrator.contracts.records import SourceOffset
from orchestrator.core.access import signed
from orchestrator.core.digest import digest
from orchestrator.core.effects import ChampionChanged, Effect, Rejected, StateDelete, StatePut
from orchestrator.core.modelgate import ModelGate
from orchestrator.core.modelspec import Guard, Rollout
from orchestrator.policies import ModelPolicy, policy_digest
from tests.unit.test_modelgate import (
    AT,
    KEY_ALICE,
    SRC,
    W1,
    data,
    decisions,
    gate,
    outcome,
    update,
)
from tests.unit.test_modelgate_state import restored

N, K = 2, 100


def rgate(direction: str = "max", tolerance: float = 0.02) -> ModelGate:
    """The churn gate of test_modelgate with a staged rollout guarding auc."""
    g = gate()
    spec = replace(g.spec, rollout=Rollout(N, K, Guard("auc", direction, tolerance)))  # type: ignore[arg-type]
    return ModelGate(spec, g.access, "test")


def perf(eid: str, version: str, auc: float | None, samples: int = 1000) -> ModelPerformance:
    return ModelPerformance(
        event_id=eid,
        model="churn",
        version=version,
        interval_start="2026-11-23T12:00:00Z",  # type: ignore[arg-type]
        interval_end="2026-11-23T13:00:00Z",  # type: ignore[arg-type]
        metrics={} if auc is None else {"auc": auc},
        sample_count=samples,
    )


def psrc(offset: int) -> SourceOffset:
    return SourceOffset(topic="models.updates", partition=0, offset=100 + offset)


def feed(g: ModelGate, p: ModelPerformance, offset: int = 0) -> list[Effect]:
    return g.handle(p, psrc(offset), AT)


def champions(effects: list[Effect]) -> list[tuple[str | None, str | None]]:
    return [(e.version, e.challenger) for e in effects if isinstance(e, ChampionChanged)]


def staged(champion_auc: float = 0.8, challenger_auc: float = 0.81) -> ModelGate:
    """v1 champion (the first version: nothing to stage against), v2 its challenger."""
    g = rgate()
    data(g, W1)
    first = g.handle(update("v1", auc=champion_auc), SRC, AT)
    assert outcome(first) == ("promote",) and champions(first) == [("v1", None)]
    g.handle(update("v2", auc=challenger_auc), SRC, AT)
    assert (g.champion, g.challenger) == ("v1", "v2")
    return g


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
    effects = feed(g, perf("p2", "v2", 0.79), 2)
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
    effects = feed(g, perf("p2", "v2", 0.77), 2)  # worse than 0.80 - 0.02
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


def crowned_v2(v1_live: float | None = None) -> ModelGate:
    g = staged()
    if v1_live is not None:
        feed(g, perf("p-c", "v1", v1_live), 0)
    feed(g, perf("p1", "v2", 0.84), 1)
    feed(g, perf("p2", "v2", 0.84), 2)
    assert g.champion == "v2"
    return g


def test_a_champion_whose_live_metric_degrades_is_rolled_back_to_the_previous_one() -> None:
    """Against its own validation figure (0.81 - 0.02): rollback to v1, E_LIVE_DEGRADED."""
    g = crowned_v2()
    effects = feed(g, perf("p3", "v2", 0.78), 3)
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
    (d,) = decisions(feed(g, perf("p3", "v2", 0.80), 3))
    assert (d.outcome, d.champion_after) == ("rollback", "v1")
    assert d.checks[0].expected["previous_champion"] == "v1"
    assert d.checks[0].expected["previous_live"]["value"] == 0.85
    assert d.inputs.event_ids[-2:] == ["p3", "p-c"]


def test_a_healthy_champion_interval_is_only_remembered() -> None:
    g = crowned_v2()
    assert decisions(feed(g, perf("p3", "v2", 0.80), 3)) == []
    assert g.versions["v2"].last is not None and g.versions["v2"].last["value"] == 0.80


def test_a_lone_champion_that_degrades_leaves_the_throne_vacant() -> None:
    g = rgate()
    data(g, W1)
    g.handle(update("v1"), SRC, AT)
    effects = feed(g, perf("p1", "v1", 0.5), 1)
    (d,) = decisions(effects)
    assert (d.outcome, d.champion_after) == ("rollback", None)
    assert champions(effects) == [(None, None)]


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
    effects = g.handle(override(forced), SRC, AT)
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
    ("perf", perf("p2", "v2", 0.70, samples=5)),
    ("perf", perf("p3", "v2", 0.80)),
    ("update", update("v3", auc=0.83)),
    ("perf", perf("p4", "v2", 0.70)),
    ("perf", perf("p5", "v3", 0.83)),
    ("perf", perf("p6", "v3", 0.83)),
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
        effects = feed(g, perf(f"q{i}", "v2", 0.83), i)
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
    """Decisions of policies without `rollout` keep their ids (the key is left out)."""
    dumped = ModelPolicy.model_validate(POLICY).model_dump(mode="json")
    del dumped["rollout"]
    assert policy_digest(ModelPolicy.model_validate(POLICY)) == digest(dumped)
