"""Every gate check at its bound, and one step either side (inclusive bounds pass)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.contracts.records import ArrivalRef, WindowManifest
from orchestrator.core.datagate import DataGate, DataGateSpec, Fingerprint, RecordCount, VolumeDrift
from orchestrator.core.decision import GateInfo
from orchestrator.core.modelgate import ModelGate, ModelGateSpec, PrimaryMetric, Threshold
from tests.unit.modelgate_support import AT, SRC, W1, data, gate, update

GATE = GateInfo("dataset/d", 1, "sha256:p")
T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)


def manifest(
    wid: str, total: int, sources: list[str] | None = None, fp: str | None = None
) -> WindowManifest:
    refs = [
        ArrivalRef(
            event_id=f"{wid}-{s}",
            source=s,
            uri="u",
            checksum="c",
            record_count=total if i == 0 else 0,
            schema_fingerprint=fp,
            digest="sha256:x",
            partition=0,
            offset=i,
        )
        for i, s in enumerate(sources or ["a"])
    ]
    return WindowManifest(
        window_id=wid,
        dataset="d",
        start=T0,
        end=T0,
        revision=1,
        watermark=T0,
        arrivals=refs,
        record_total=total,
        sources=sorted(set(sources or ["a"])),
        checksums=["c"],
        inputs_digest="sha256:i",
    )


def check(spec: DataGateSpec, m: WindowManifest, name: str, history: list[int] = ()) -> Any:  # type: ignore[assignment]
    g = DataGate(spec, "data.arrivals", "t")
    for i, total in enumerate(history):
        g.decide(manifest(f"d/h{i}", total), T0)
    (c,) = [c for c in g.checks(m) if c.name == name]
    return c


@pytest.mark.parametrize(
    ("total", "passed"), [(9, False), (10, True), (11, True), (99, True), (100, True), (101, False)]
)
def test_record_count_bounds_are_inclusive(total: int, passed: bool) -> None:
    c = check(
        DataGateSpec(GATE, record_count=RecordCount(10, 100)),
        manifest("d/w", total),
        "record_count",
    )
    assert c.passed is passed and c.code == ("OK" if passed else "E_RECORD_COUNT")
    assert c.observed == total and c.expected == {"min": 10, "max": 100}


def test_record_count_without_max_has_no_upper_bound() -> None:
    c = check(
        DataGateSpec(GATE, record_count=RecordCount(0, None)),
        manifest("d/w", 2**62),
        "record_count",
    )
    assert c.passed


@pytest.mark.parametrize(
    ("history", "total", "passed"),
    [
        ([100], 300, True),  # ratio exactly max_ratio
        ([100], 301, False),
        ([150], 50, True),  # the other way: mean / total exactly max_ratio
        ([150], 49, False),
        ([100, 200], 450, True),  # mean of the history: 150
        ([100, 200], 451, False),
        ([0], 0, True),  # zero against zero is no drift
        ([0], 1, False),  # anything against zero drifts (no division by zero)
        ([5], 0, False),
    ],
)
def test_volume_drift_at_its_ratio(history: list[int], total: int, passed: bool) -> None:
    spec = DataGateSpec(GATE, volume_drift=VolumeDrift(2, 3.0, "error"))
    c = check(spec, manifest("d/w", total), "volume_drift", history)
    assert c.passed is passed and c.code == ("OK" if passed else "E_VOLUME_DRIFT")
    assert c.observed["history"] == len(history)


def test_volume_drift_uses_only_the_last_k_promoted() -> None:
    """With last 2, after 1000, 500, 400 were promoted the mean is 450 (not 633): 150 is
    exactly 3x below and passes, 149 does not."""
    spec = DataGateSpec(GATE, volume_drift=VolumeDrift(2, 3.0, "error"))
    assert check(spec, manifest("d/w", 150), "volume_drift", [1000, 500, 400]).passed
    assert not check(spec, manifest("d/w", 149), "volume_drift", [1000, 500, 400]).passed


@pytest.mark.parametrize(
    ("fps", "passed"),
    [(["fp"], True), (["fp", "fp"], True), (["fp", None], False), (["other"], False)],
)
def test_schema_fingerprint_must_be_the_only_one(fps: list[str | None], passed: bool) -> None:
    g = DataGate(DataGateSpec(GATE, schema_fingerprint=Fingerprint("fp")), "data.arrivals", "t")
    m = manifest("d/w", 1, [f"s{i}" for i in range(len(fps))])
    m = m.model_copy(
        update={
            "arrivals": [
                a.model_copy(update={"schema_fingerprint": f})
                for a, f in zip(m.arrivals, fps, strict=True)
            ]
        }
    )
    (c,) = [c for c in g.checks(m) if c.name == "schema_fingerprint"]
    assert c.passed is passed and c.code == ("OK" if passed else "E_SCHEMA_MISMATCH")


@pytest.mark.parametrize(
    ("sources", "passed"), [(["eu", "us"], True), (["eu"], False), (["eu", "us", "x"], True)]
)
def test_completeness_needs_every_required_source(sources: list[str], passed: bool) -> None:
    spec = DataGateSpec(GATE, required_sources=frozenset({"eu", "us"}))
    c = check(spec, manifest("d/w", 1, sources), "completeness")
    assert c.passed is passed and c.code == ("OK" if passed else "E_MISSING_SOURCE")


# -- model gate -------------------------------------------------------------------------------


def model_gate(
    primary: PrimaryMetric | None = None, thresholds: tuple[Threshold, ...] = ()
) -> ModelGate:
    g = gate()
    g.spec = ModelGateSpec(
        gate=g.spec.gate,
        model="churn",
        datasets=frozenset({"clicks"}),
        required_metrics=("auc",),
        thresholds=thresholds,
        primary=primary,
    )
    data(g, W1)
    return g


@pytest.mark.parametrize(
    ("auc", "passed"), [(0.49, False), (0.5, True), (0.75, True), (1.0, True), (1.01, False)]
)
def test_metric_thresholds_are_inclusive(auc: float, passed: bool) -> None:
    g = model_gate(thresholds=(Threshold("auc", 0.5, 1.0),))
    (d,) = [e.decision for e in g.handle(update("v1", auc=auc), SRC, AT) if hasattr(e, "decision")]
    (c,) = [c for c in d.checks if c.name == "threshold:auc"]
    assert c.passed is passed and d.outcome == ("promote" if passed else "reject")


@pytest.mark.parametrize(
    ("direction", "champion", "challenger", "passed"),
    [
        ("max", 0.75, 0.5, True),  # exactly the tolerance (0.25) below: still no regression
        ("max", 0.75, 0.49, False),
        ("max", 0.75, 0.9, True),
        ("min", 0.5, 0.75, True),  # exactly the tolerance above
        ("min", 0.5, 0.76, False),
        ("min", 0.5, 0.1, True),
    ],
)
def test_regression_tolerance_is_inclusive(
    direction: str, champion: float, challenger: float, passed: bool
) -> None:
    g = model_gate(primary=PrimaryMetric("auc", direction, 0.25))  # type: ignore[arg-type]
    g.handle(update("v1", auc=champion), SRC, AT)
    assert g.champion == "v1"
    (d,) = [
        e.decision
        for e in g.handle(update("v2", auc=challenger), SRC, AT)
        if hasattr(e, "decision")
    ]
    (c,) = [c for c in d.checks if c.name == "regression"]
    assert c.passed is passed and c.code == ("OK" if passed else "E_REGRESSION")
    assert c.expected["champion"] == "v1" and c.expected["champion_value"] == champion
