"""The data gate's evidence and drift memory: what each check records as observed/expected,
and which promoted totals a later window is compared with."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.contracts.records import ArrivalRef, AuditDecision, Check, WindowManifest
from orchestrator.core.checks import Severity
from orchestrator.core.datagate import (
    DataGate,
    DataGateSpec,
    Fingerprint,
    RecordCount,
    VolumeDrift,
)
from orchestrator.core.decision import GateInfo
from orchestrator.core.timeutil import window_id

GATE = GateInfo("dataset/clicks", 1, "sha256:policy")
T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)
HOUR_MS = 3_600_000
T0_MS = 1_795_428_000_000  # 2026-11-23T10:00:00Z


def wid(hour: int) -> str:
    """The id of the hourly clicks window `hour` hours after T0."""
    return window_id("clicks", T0_MS + hour * HOUR_MS, HOUR_MS)


def manifest(
    window: str,
    total: int,
    *,
    revision: int = 1,
    sources: list[str] | None = None,
    fingerprints: list[str | None] | None = None,
) -> WindowManifest:
    """A fired window whose first arrival carries the whole total; one arrival per fingerprint."""
    fps = fingerprints if fingerprints is not None else [None]
    refs = [
        ArrivalRef(
            event_id=f"{window}-{i}",
            source="eu",
            uri="s3://lake/x",
            checksum="sha256:c",
            record_count=total if i == 0 else 0,
            schema_fingerprint=fp,
            digest="sha256:d",
            partition=0,
            offset=i,
        )
        for i, fp in enumerate(fps)
    ]
    return WindowManifest(
        window_id=window,
        dataset="clicks",
        start=T0,
        end=T0,
        revision=revision,
        watermark=T0,
        arrivals=refs,
        record_total=total,
        sources=sources if sources is not None else ["eu"],
        checksums=["sha256:c"],
        inputs_digest="sha256:i",
    )


def gate(**kw: Any) -> DataGate:
    return DataGate(DataGateSpec(GATE, **kw), "data.arrivals", "test")


def named(decision_or_checks: AuditDecision | list[Check], name: str) -> Check:
    checks = (
        decision_or_checks.checks
        if isinstance(decision_or_checks, AuditDecision)
        else decision_or_checks
    )
    (c,) = [c for c in checks if c.name == name]
    return c


def promote_all(g: DataGate, totals: list[int]) -> None:
    """Decide one window per total, in hour order; every one must be promoted."""
    for hour, total in enumerate(totals):
        assert g.decide(manifest(wid(hour), total), T0).outcome == "promote"


# -- evidence of each check -------------------------------------------------------------------


def test_completeness_records_the_sources_seen_and_the_sorted_required_ones() -> None:
    """Completeness evidence: observed = the window's sources, expected = required, sorted."""
    g = gate(required_sources=frozenset({"us", "eu", "apac"}))
    c = named(g.checks(manifest(wid(0), 5, sources=["eu", "us"])), "completeness")
    assert (c.passed, c.code) == (False, "E_MISSING_SOURCE")
    assert c.observed == ["eu", "us"]
    assert c.expected == ["apac", "eu", "us"]


@pytest.mark.parametrize(
    ("fingerprints", "observed", "passed"),
    [
        (["fp"], ["fp"], True),
        (["fp", None], ["fp", "none"], False),  # an arrival without one is named "none"
        ([None, None], ["none"], False),
        (["zz", "fp", "zz"], ["fp", "zz"], False),
    ],
)
def test_schema_fingerprint_records_each_distinct_fingerprint_seen(
    fingerprints: list[str | None], observed: list[str], passed: bool
) -> None:
    """Fingerprint evidence: the distinct fingerprints of the arrivals, sorted, against the one wanted."""
    g = gate(schema_fingerprint=Fingerprint("fp", "error"))
    c = named(g.checks(manifest(wid(0), 5, fingerprints=fingerprints)), "schema_fingerprint")
    assert (c.observed, c.expected, c.passed) == (observed, "fp", passed)
    assert c.code == ("OK" if passed else "E_SCHEMA_MISMATCH")


def test_volume_drift_records_total_mean_ratio_and_history_to_six_decimals() -> None:
    """Drift evidence against a history of 1, 1, 2 (mean 4/3): values rounded to 6 decimals."""
    g = gate(volume_drift=VolumeDrift(3, 2.0, "warn"))
    promote_all(g, [1, 1, 2])
    c = named(g.checks(manifest(wid(3), 1)), "volume_drift")
    assert c.observed == {"total": 1, "mean": 1.333333, "ratio": 1.333333, "history": 3}
    assert c.expected == {"last": 3, "max_ratio": 2.0}
    assert (c.passed, c.code) == (True, "OK")


def test_volume_drift_without_history_passes_and_says_so() -> None:
    """The first window has nothing to drift from: it passes, with a history of 0."""
    c = named(
        gate(volume_drift=VolumeDrift(2, 1.5, "error")).checks(manifest(wid(0), 7)), "volume_drift"
    )
    assert (c.passed, c.code) == (True, "OK")
    assert c.observed == {"total": 7, "history": 0}
    assert c.expected == {"last": 2, "max_ratio": 1.5}


@pytest.mark.parametrize(
    ("history", "total", "ratio", "passed"),
    [
        ([0], 0, 1.0, True),  # zero against zero is no drift at all, even under a tight ratio
        ([0], 3, float("inf"), False),
        ([4], 0, float("inf"), False),
        ([100], 150, 1.5, True),  # exactly the bound
        ([100], 151, 1.51, False),
    ],
)
def test_volume_drift_ratio_at_its_edges(
    history: list[int], total: int, ratio: float, passed: bool
) -> None:
    """The ratio is 1 for zero against zero, infinite for anything else against zero, and a
    ratio exactly at max_ratio passes."""
    g = gate(volume_drift=VolumeDrift(1, 1.5, "error"))
    promote_all(g, history)
    decision = g.decide(manifest(wid(len(history)), total), T0)
    c = named(decision, "volume_drift")
    assert c.observed["ratio"] == ratio and c.passed is passed
    assert decision.outcome == ("promote" if passed else "reject")


@pytest.mark.parametrize(("severity", "outcome"), [("warn", "promote"), ("error", "reject")])
def test_volume_drift_severity_decides_whether_drift_rejects(
    severity: Severity, outcome: str
) -> None:
    """A drift check failing as `warn` is only recorded; as `error` it rejects the window."""
    g = gate(volume_drift=VolumeDrift(1, 1.5, severity))
    promote_all(g, [100])
    decision = g.decide(manifest(wid(1), 151), T0)
    c = named(decision, "volume_drift")
    assert (c.passed, c.code, decision.outcome) == (False, "E_VOLUME_DRIFT", outcome)


# -- what the drift memory keeps --------------------------------------------------------------


def test_drift_memory_keeps_the_last_k_plus_one_promoted_totals_oldest_first() -> None:
    """With last=2, after five promotions the state holds exactly the newest three."""
    g = gate(volume_drift=VolumeDrift(2, 10.0, "warn"))
    promote_all(g, [10, 20, 30, 40, 50])
    assert g.snapshot() == {"promoted": [(wid(2), 30), (wid(3), 40), (wid(4), 50)]}


def test_a_new_revision_of_the_newest_window_is_compared_with_the_k_before_it() -> None:
    """Revision 2 of the latest window leaves itself out and still finds k earlier totals."""
    g = gate(volume_drift=VolumeDrift(1, 10.0, "warn"))
    promote_all(g, [100, 300])
    c = named(g.decide(manifest(wid(1), 250, revision=2), T0), "volume_drift")
    assert c.observed == {"total": 250, "mean": 100.0, "ratio": 2.5, "history": 1}


def test_after_three_promotions_with_last_one_the_next_window_sees_the_newest() -> None:
    """The memory drops the oldest total, never the one just promoted."""
    g = gate(volume_drift=VolumeDrift(1, 10.0, "warn"))
    promote_all(g, [100, 200, 400])
    c = named(g.checks(manifest(wid(3), 400)), "volume_drift")
    assert (c.observed["mean"], c.observed["history"]) == (400.0, 1)


def test_a_window_whose_new_revision_is_rejected_leaves_the_drift_history() -> None:
    """Promoted at revision 1, rejected at revision 2: later windows no longer compare with it."""
    g = gate(record_count=RecordCount(0, 500, "error"), volume_drift=VolumeDrift(3, 10.0, "warn"))
    promote_all(g, [100])
    assert g.decide(manifest(wid(0), 900, revision=2), T0).outcome == "reject"
    assert g.snapshot() == {"promoted": []}
    c = named(g.checks(manifest(wid(1), 5)), "volume_drift")
    assert c.observed == {"total": 5, "history": 0}
