"""Golden audit records of drift and retraining (tests/golden/README.md says how they were
reviewed): a window decided on its drift checks, with figures small enough to compute by hand,
and one training decision per reason (every, drift, live, plateau)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson

from orchestrator.contracts import decode
from orchestrator.contracts.events import ModelPerformance
from orchestrator.contracts.modellog import DataNotice
from orchestrator.contracts.records import SourceOffset
from orchestrator.core.checks import check
from orchestrator.core.datagate import DataGate, DataGateSpec
from orchestrator.core.decision import GateInfo
from orchestrator.core.drift import Drift, DriftCheck
from orchestrator.core.effects import Decided
from orchestrator.core.engine import EventTimeEngine
from orchestrator.core.modelgate import ModelGate
from orchestrator.core.modelspec import LiveBound, Plateau, Retrain
from orchestrator.core.policy import DatasetSpec, ProfileColumn
from tests import factories
from tests.unit.golden_support import golden_decision
from tests.unit.modelgate_support import SRC, W1, W2, W3, data, gate, update

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
COLUMN = ProfileColumn("amount", edges=(5.0,), probs=(0.5,))


def column(low: int, high: int, mean: float, std: float, median: float) -> dict[str, Any]:
    """A profile of `low` values below 5 and `high` at or above it, in [0, 10]."""
    return {
        "count": low + high,
        "nulls": 0,
        "mean": mean,
        "std": std,
        "min": 0.0,
        "max": 10.0,
        "bins": [low, high],
        "quantiles": [median],
    }


def test_a_drifted_window_matches_its_golden_record() -> None:
    """Reference: one promoted window of 18 values below 5 and 2 above (mean 3, sd 2, median
    4). This window: 10 and 10 (mean 5, sd 2, median 5). By hand: PSI = (0.5 - 0.9) ln(0.5/0.9)
    + (0.5 - 0.1) ln(0.5/0.1) = 0.878890; KS from the quantile curves (0, 0), (4, 0.5), (10, 1)
    against (0, 0), (5, 0.5), (10, 1): largest gap at x = 4, 0.5 - 0.4 = 0.1; mean shift
    (5 - 3) / 2 = 1."""
    expected_psi = -0.4 * math.log(0.5 / 0.9) + 0.4 * math.log(0.5 / 0.1)
    spec = DatasetSpec(
        "clicks",
        window_ms=3_600_000,
        out_of_orderness_ms=0,
        allowed_lateness_ms=0,
        profile=(COLUMN,),
    )
    gate_spec = DataGateSpec(
        gate=GateInfo("dataset/clicks", 4, "sha256:clicks-policy"),
        profile=(COLUMN,),
        drift=Drift(
            last=3,
            window=None,
            checks=(
                DriftCheck("amount", "psi", 0.25, "error"),
                DriftCheck("amount", "ks", 0.2, "warn"),
                DriftCheck("amount", "mean_shift", 0.5, "warn"),
            ),
        ),
    )
    engine = EventTimeEngine(
        {"clicks": spec}, {"clicks": lambda: DataGate(gate_spec, "data.arrivals", "0.1.0")}
    )
    events = [
        factories.arrival(
            "a1",
            event_time="2026-11-23T10:05:00Z",
            record_count=20,
            profile={"amount": column(18, 2, 3.0, 2.0, 4.0)},
        ),
        factories.arrival(
            "a2",
            event_time="2026-11-23T11:05:00Z",
            record_count=20,
            profile={"amount": column(10, 10, 5.0, 2.0, 5.0)},
        ),
        factories.watermark("w1", watermark="2026-11-23T12:00:00Z"),
    ]
    decisions = [
        e.decision
        for i, ev in enumerate(events)
        for e in engine.handle(decode(orjson.dumps(ev)), 0, 10 + i, AT)  # type: ignore[arg-type]
        if isinstance(e, Decided)
    ]
    assert [d.outcome for d in decisions] == ["promote", "reject"]
    checks = {c.name: c for c in decisions[1].checks}
    assert checks["drift.amount.psi"].observed["value"] == round(expected_psi, 6) == 0.87889
    assert checks["drift.amount.ks"].observed["value"] == 0.1
    assert checks["drift.amount.mean_shift"].observed["value"] == 1.0
    for n, d in enumerate(decisions, 1):
        golden_decision(f"drift-decision-{n}", d)


def _trig(offset: int) -> SourceOffset:
    return SourceOffset(topic="models.log", partition=0, offset=offset)


def test_training_decisions_match_their_golden_records() -> None:
    """One request per reason, every field of the audit record."""
    decided: list[Any] = []
    # every: retrain_every 2, two promoted windows
    g = gate(retrain_every=2)
    for i, w in enumerate((W1, W2)):
        arrival = SourceOffset(topic="data.arrivals", partition=0, offset=40 + i)
        n = DataNotice(window_id=w, outcome="promote", decision_id=f"sha256:d{i}", source=arrival)
        decided += g.handle(n, n.source, AT, _trig(i))
    # drift: a notice carrying a failed drift check of a listed dataset
    g = gate()
    g = ModelGate(replace(g.spec, retrain=Retrain(drift=frozenset({"clicks"}))), g.access, "0.1.0")
    failed = check(
        "drift.amount.psi",
        False,
        "warn",
        {"value": 0.87889, "count": 20, "reference_count": 20, "reference": [W1]},
        {"max": 0.25},
        "E_DRIFT",
    )
    n = DataNotice(
        window_id=W2,
        outcome="promote",
        decision_id="sha256:d2",
        source=SourceOffset(topic="data.arrivals", partition=0, offset=47),
        drift=[failed],
    )
    decided += g.handle(n, n.source, AT, _trig(10))
    # live: the champion's calibration error beyond its bound
    g = gate()
    spec = replace(g.spec, retrain=Retrain(live_bounds=(LiveBound("calibration_error", max=0.05),)))
    g = ModelGate(spec, g.access, "0.1.0")
    data(g, W1)
    g.handle(update("v1", trained_on=[W1]), SRC, AT)
    perf = ModelPerformance(
        event_id="p1",
        model="churn",
        version="v1",
        interval_start=datetime(2026, 11, 24, 10, tzinfo=UTC),
        interval_end=datetime(2026, 11, 24, 11, tzinfo=UTC),
        metrics={"calibration_error": 0.09},
        sample_count=800,
    )
    decided += g.handle(
        perf, SourceOffset(topic="models.updates", partition=0, offset=5), AT, _trig(20)
    )
    # plateau: three champions gaining 0.004 in all, less than 0.01
    g = gate()
    g = ModelGate(replace(g.spec, retrain=Retrain(plateau=Plateau(3, 0.01))), g.access, "0.1.0")
    for w in (W1, W2, W3):
        data(g, w)
    for i, (v, auc, w) in enumerate((("v1", 0.800, W1), ("v2", 0.802, W2), ("v3", 0.804, W3))):
        decided += g.handle(
            update(v, auc=auc, trained_on=[w]),
            SourceOffset(topic="models.updates", partition=0, offset=30 + i),
            AT,
            _trig(30 + i),
        )
    training = [
        e.decision
        for e in decided
        if isinstance(e, Decided) and e.decision.subject.kind == "training"
    ]
    assert [d.checks[0].name for d in training] == [
        "retrain.every",
        "clicks.drift.amount.psi",
        "live.calibration_error",
        "plateau",
    ]
    for n, d in enumerate(training, 1):
        golden_decision(f"training-decision-{n}", d)
