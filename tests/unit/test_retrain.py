"""Retraining triggers (`retrain_on`): every, drift, live, plateau; the debounce; each request
an audited decision with its reason and evidence; the state kept across a restore; the policy's
refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from orchestrator.contracts.modellog import DataNotice, notice_record, parse_entry
from orchestrator.core.modelspec import LiveBound, Plateau, Retrain
from orchestrator.errors import E_DRIFT, E_LIVE_DEGRADED, E_PLATEAU, OK, ConfigError
from orchestrator.policies import Policies
from orchestrator.policies.models import ModelPolicy
from orchestrator.testing import dataset_policy, model_policy, write_gates
from tests.unit.modelgate_support import AT, SRC, W1, W2, W3, data, gate, restored, update
from tests.unit.retrain_support import DRIFT, drifted, requests, training, with_retrain
from tests.unit.rollout_support import feed, perf, rgate, staged

W4, W5 = (f"clicks/2026-11-23T{h}:00:00Z/PT1H" for h in ("13", "14"))


def test_every_n_promoted_windows_is_an_audited_request() -> None:
    g = gate(retrain_every=2)
    assert requests(data(g, W1)) == []
    effects = data(g, W2)
    (req,) = requests(effects)
    (decision,) = training(effects)
    assert (req.reason, req.windows, req.decision_id) == ("every", [W1, W2], decision.decision_id)
    assert (decision.outcome, decision.subject.id, decision.revision) == ("retrain", "churn", 1)
    assert decision.model == "churn"
    (evidence,) = decision.checks
    assert (evidence.name, evidence.passed, evidence.code) == ("retrain.every", True, OK)
    assert evidence.observed == {"promoted_windows": [W1, W2]}
    assert evidence.expected == {"every": 2}
    assert req.checks == [evidence]


def test_drift_on_a_listed_dataset_asks_with_the_failed_checks() -> None:
    g = with_retrain(gate(), drift=frozenset({"clicks"}))
    effects = drifted(g, W1)
    (req,) = requests(effects)
    (decision,) = training(effects)
    assert (req.reason, req.windows) == ("drift", [W1])
    (evidence,) = decision.checks
    assert evidence.name == "clicks.drift.amount.psi"
    assert (evidence.observed, evidence.expected, evidence.code) == (
        DRIFT.observed,
        DRIFT.expected,
        E_DRIFT,
    )
    # a notice without failed drift checks, or of a dataset not listed, asks nothing
    assert requests(drifted(g, W2, checks=[])) == []
    other = with_retrain(gate(), drift=frozenset({"payments"}))
    assert requests(drifted(other, W1)) == []


def test_the_debounce_lets_one_request_through_per_interval_of_event_time() -> None:
    g = with_retrain(gate(), drift=frozenset({"clicks"}), debounce_ms=2 * 3_600_000)
    assert len(requests(drifted(g, W1))) == 1  # W1 ends 11:00
    assert requests(drifted(g, W2)) == []  # ends 12:00: less than 2 h after 11:00
    assert len(requests(drifted(g, W3))) == 1  # ends 13:00: 2 h after, no longer debounced
    # measured from the last request made (13:00), not from the last asked for
    assert requests(drifted(g, W4)) == []  # 14:00
    (decision,) = training(drifted(g, W5.replace("14:", "15:")))
    assert decision.revision == 3


def test_a_storm_of_drift_is_one_request() -> None:
    g = with_retrain(gate(), drift=frozenset({"clicks"}), debounce_ms=24 * 3_600_000)
    made = [
        r for h in range(10, 24) for r in requests(drifted(g, f"clicks/2026-11-23T{h}:00:00Z/PT1H"))
    ]
    assert len(made) == 1


def test_a_live_degradation_decision_asks() -> None:
    g = staged()
    g = restored(with_retrain(g, live=True), g.entries())
    # v1 is champion; its live auc falls far behind its validation figure: rolled back (or
    # held with no target), and a request follows with the failed guard as evidence
    effects = feed(g, perf("p1", "v1", 0.5, hour=0), 1)
    (req,) = requests(effects)
    assert req.reason == "live"
    (decision,) = training(effects)
    assert [c.code for c in decision.checks] == [E_LIVE_DEGRADED]
    assert decision.inputs.event_ids == ["p1"]


def test_a_live_bound_on_the_champion_asks_without_a_rollout() -> None:
    g = gate()
    data(g, W1)
    g.handle(update("v1", trained_on=[W1]), SRC, AT)
    g = restored(
        with_retrain(g, live_bounds=(LiveBound("calibration_error", max=0.05, min_samples=100),)),
        g.entries(),
    )
    ok = perf("p1", "v1", 0.8, hour=0)
    ok = ok.model_copy(update={"metrics": {"calibration_error": 0.01}})
    assert requests(feed(g, ok, 1)) == []
    few = ok.model_copy(
        update={"event_id": "p2", "metrics": {"calibration_error": 0.2}, "sample_count": 10}
    )
    assert requests(feed(g, few, 2)) == []  # too few samples to count
    bad = ok.model_copy(update={"event_id": "p3", "metrics": {"calibration_error": 0.2}})
    (decision,) = training(feed(g, bad, 3))
    (evidence,) = decision.checks
    assert evidence.name == "live.calibration_error"
    assert evidence.observed == {"version": "v1", "value": 0.2, "samples": 1000}
    assert evidence.expected == {"min": None, "max": 0.05, "min_samples": 100}
    # an interval of a version that is not the champion is not the champion degrading
    other = bad.model_copy(update={"event_id": "p4", "version": "v0"})
    assert requests(feed(g, other, 4)) == []


def test_a_plateau_of_the_primary_metric_asks() -> None:
    g = with_retrain(gate(), plateau=Plateau(last=3, min_gain=0.01))
    for w in (W1, W2, W3):
        data(g, w)
    assert requests(g.handle(update("v1", auc=0.800, trained_on=[W1]), SRC, AT)) == []
    assert requests(g.handle(update("v2", auc=0.806, trained_on=[W2]), SRC, AT)) == []
    effects = g.handle(update("v3", auc=0.809, trained_on=[W3]), SRC, AT)
    (req,) = requests(effects)
    assert req.reason == "plateau"
    (decision,) = training(effects)
    (evidence,) = decision.checks
    assert (evidence.name, evidence.code, evidence.passed) == ("plateau", E_PLATEAU, False)
    assert evidence.observed == {
        "versions": ["v3", "v2", "v1"],
        "auc": [0.809, 0.806, 0.8],
        "gain": pytest.approx(0.009),
    }
    assert evidence.expected == {"last": 3, "min_gain": 0.01}


def test_enough_gain_is_no_plateau() -> None:
    g = with_retrain(gate(), plateau=Plateau(last=2, min_gain=0.01))
    for w in (W1, W2):
        data(g, w)
    g.handle(update("v1", auc=0.80, trained_on=[W1]), SRC, AT)
    assert requests(g.handle(update("v2", auc=0.82, trained_on=[W2]), SRC, AT)) == []


def test_requests_and_their_debounce_survive_a_restore() -> None:
    g = with_retrain(gate(), drift=frozenset({"clicks"}), debounce_ms=3 * 3_600_000)
    drifted(g, W1)
    h = restored(g, g.entries())
    assert (h.requests, h.retrain_at_ms) == (1, g.retrain_at_ms)
    assert requests(drifted(h, W2)) == []  # still debounced after the restore
    (decision,) = training(drifted(h, W5))
    assert decision.revision == 2


def test_a_gate_without_requests_keeps_its_record_as_it_was() -> None:
    g = gate()
    data(g, W1)
    meta = [v for k, v in g.entries().items() if k.startswith("m")]
    assert all("rq" not in m for m in meta)


def test_a_notice_carries_its_drift_checks_through_models_log() -> None:
    record = notice_record(W1, "promote", "d1", SRC, [DRIFT])
    parsed = parse_entry(record)
    assert isinstance(parsed, DataNotice)
    assert parsed.drift == [DRIFT]
    assert b"drift" not in notice_record(W1, "promote", "d1", SRC, None)


POLICY = {
    "kind": "model",
    "name": "churn",
    "version": 1,
    "datasets": ["clicks"],
    "required_metrics": ["auc"],
    "primary_metric": {"name": "auc", "direction": "max"},
}


def test_the_policy_builds_the_triggers() -> None:
    p = ModelPolicy.model_validate(
        {
            **POLICY,
            "retrain_on": {
                "every": 4,
                "drift": {"datasets": ["clicks"]},
                "live": {"bounds": {"calibration_error": {"max": 0.05, "min_samples": 10}}},
                "plateau": {"last": 3, "min_gain": 0.001},
                "debounce": "PT6H",
            },
        }
    )
    spec = p.gate_spec()
    assert spec.retrain_every == 4
    assert spec.retrain == Retrain(
        drift=frozenset({"clicks"}),
        live=False,
        live_bounds=(LiveBound("calibration_error", None, 0.05, 10),),
        plateau=Plateau(3, 0.001),
        debounce_ms=6 * 3_600_000,
    )


@pytest.mark.parametrize(
    ("retrain_on", "extra", "message"),
    [
        ({"every": 2}, {"retrain_every": 3}, "name one"),
        ({"plateau": {"last": 2, "min_gain": 0}}, {"primary_metric": None}, "primary_metric"),
        ({"live": {"degraded": True}}, {}, "needs a rollout"),
        ({"debounce": "PT0S"}, {}, "positive duration"),
        ({"plateau": {"last": 1, "min_gain": 0}}, {}, "greater than or equal to 2"),
    ],
)
def test_the_policy_refuses_triggers_that_cannot_fire(
    retrain_on: dict[str, Any], extra: dict[str, Any], message: str
) -> None:
    doc = {**POLICY, **extra, "retrain_on": retrain_on}
    with pytest.raises(ValidationError, match=message):
        ModelPolicy.model_validate(doc)


def test_a_staged_rollout_gate_without_triggers_asks_nothing() -> None:
    g = rgate()
    data(g, W1)
    effects = g.handle(update("v1", trained_on=[W1]), SRC, AT)
    assert requests(effects) == []
    assert training(effects) == []


def test_a_plateau_is_seen_when_a_held_version_is_crowned_by_its_data() -> None:
    """The version crowned by a data notice (it was held for its window) counts too."""
    g = with_retrain(gate(), plateau=Plateau(last=2, min_gain=0.05))
    data(g, W1)
    g.handle(update("v1", auc=0.80, trained_on=[W1]), SRC, AT)
    assert requests(g.handle(update("v2", auc=0.81, trained_on=[W2]), SRC, AT)) == []  # held
    (req,) = requests(data(g, W2))
    assert req.reason == "plateau"


@pytest.mark.parametrize(
    ("drift_datasets", "dataset_drift", "reason"),
    [
        (["payments"], True, "'payments' is not in datasets"),
        (["clicks"], False, "dataset 'clicks' has no drift checks: its drift can never ask"),
    ],
)
def test_a_drift_trigger_that_could_never_ask_is_refused_naming_the_field(
    tmp_path: Path, drift_datasets: list[str], dataset_drift: bool, reason: str
) -> None:
    extra: dict[str, Any] = {}
    if dataset_drift:
        extra = {
            "profile": {"x": {"bins": [0.0, 1.0]}},
            "drift": {"reference": {"last": 2}, "columns": {"x": {"psi": {"max": 0.2}}}},
        }
    gates = write_gates(
        tmp_path / "gates",
        [
            dataset_policy("clicks", **extra),
            model_policy("churn", ["clicks"], retrain_on={"drift": {"datasets": drift_datasets}}),
        ],
    )
    with pytest.raises(ConfigError) as info:
        Policies.load(gates)
    assert (info.value.field, info.value.reason) == ("retrain_on.drift.datasets", reason)
    assert info.value.file.endswith("churn.yaml")
