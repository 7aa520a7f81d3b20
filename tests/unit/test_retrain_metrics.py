"""Drift and retraining metrics: the latest drift figure per dataset, column and statistic,
drift beyond its bound by severity, training requests by model and reason (at 0 from the
start for every declared model)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orchestrator.contracts.records import AuditDecision
from orchestrator.worker.metrics import Metrics

W = "clicks/2026-11-23T10:00:00Z/PT1H"


def decision(kind: str, subject_id: str, checks: list[dict[str, Any]], **kw: Any) -> Any:
    return AuditDecision.model_validate(
        {
            "decision_id": "d1",
            "subject": {"kind": kind, "id": subject_id},
            "revision": 1,
            "outcome": kw.pop("outcome", "promote"),
            "gate": {"name": "g", "version": 1, "digest": "x"},
            "checks": checks,
            "inputs": {"event_ids": [], "digest": "x", "offsets": []},
            "decided_at": datetime(2026, 11, 25, tzinfo=UTC),
            "orchestrator_version": "0",
            **kw,
        }
    )


def drift(stat: str, value: Any, passed: bool, severity: str = "warn") -> dict[str, Any]:
    return {
        "name": f"drift.amount.{stat}",
        "passed": passed,
        "severity": severity,
        "observed": {"value": value, "count": 1, "reference_count": 1, "reference": []},
        "expected": {"max": 0.2},
        "code": "OK" if passed else "E_DRIFT",
    }


def test_drift_figures_and_failures() -> None:
    m = Metrics(datasets=["clicks"], models=["churn"])
    m.decided(
        decision(
            "data_window",
            W,
            [
                drift("psi", 0.31, False, "error"),
                drift("ks", 0.05, True),
                drift("mean_shift", "inf", False),
            ],
            outcome="reject",
        ),
        None,
    )
    get = m.registry.get_sample_value
    assert (
        get("orchestrator_drift", {"dataset": "clicks", "column": "amount", "stat": "psi"}) == 0.31
    )
    assert (
        get("orchestrator_drift", {"dataset": "clicks", "column": "amount", "stat": "ks"}) == 0.05
    )
    shift = {"dataset": "clicks", "column": "amount", "stat": "mean_shift"}
    assert get("orchestrator_drift", shift) == float("inf")
    failed = {"dataset": "clicks", "column": "amount", "stat": "psi", "severity": "error"}
    assert get("orchestrator_drift_failed_total", failed) == 1
    assert get("orchestrator_drift_failed_total", {**shift, "severity": "warn"}) == 1
    assert get("orchestrator_drift_failed_total", {**failed, "stat": "ks"}) is None
    # a window without a value (no profile) counts as failed but sets no figure
    m.decided(decision("data_window", W, [drift("psi", None, False, "error")]), None)
    assert get("orchestrator_drift_failed_total", failed) == 2
    assert (
        get("orchestrator_drift", {"dataset": "clicks", "column": "amount", "stat": "psi"}) == 0.31
    )


def test_training_requests_by_reason_from_zero() -> None:
    m = Metrics(datasets=["clicks"], models=["churn"])
    get = m.registry.get_sample_value
    for reason in ("every", "drift", "live", "plateau"):
        assert (
            get("orchestrator_training_requests_total", {"model": "churn", "reason": reason}) == 0
        )
    names = {
        "every": "retrain.every",
        "drift": "clicks.drift.amount.psi",
        "live": "live.x",
        "plateau": "plateau",
    }
    for reason, check in names.items():
        c = {"name": check, "passed": False, "severity": "warn", "code": "E_DRIFT"}
        m.decided(decision("training", "churn", [c], outcome="retrain", model="churn"), None)
        assert (
            get("orchestrator_training_requests_total", {"model": "churn", "reason": reason}) == 1
        )
    # a model no policy declares is counted under `other`
    c = {"name": "plateau", "passed": False, "severity": "warn", "code": "E_PLATEAU"}
    m.decided(decision("training", "fraud", [c], outcome="retrain", model="fraud"), None)
    assert get("orchestrator_training_requests_total", {"model": "other", "reason": "plateau"}) == 1


def test_every_declared_drift_check_is_counted_from_zero() -> None:
    """The alert takes the increase of the failure counter: every drift check the shipped
    policies declare has its series at 0 before the first failure."""
    from orchestrator.policies import Policies
    from orchestrator.worker.retrain_metrics import drift_series
    from tests.conftest import ROOT

    series = drift_series(Policies.load(ROOT / "gates"))
    assert ("clicks", "session_seconds", "psi", "warn") in series
    m = Metrics(datasets=["clicks"], models=["churn"], drift=series)
    for dataset, column, stat, severity in series:
        labels = {"dataset": dataset, "column": column, "stat": stat, "severity": severity}
        assert m.registry.get_sample_value("orchestrator_drift_failed_total", labels) == 0
