"""The worker's metrics (no IO): build and process info on the served registry, decisions by a
bounded subject, arrivals per declared dataset, lag series of revoked partitions removed."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import TopicPartition
from prometheus_client import generate_latest

from orchestrator import __version__
from orchestrator.contracts.records import AuditDecision
from orchestrator.pipeline.records import Applied, Rec
from orchestrator.worker.eventtime import EventTimeObserver
from orchestrator.worker.metrics import OTHER, Metrics


def metrics() -> Metrics:
    return Metrics(datasets=["clicks", "payments"], models=["churn"])


def sample(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def decision(kind: str, subject_id: str, model: str | None, outcome: str = "reject") -> Any:
    return AuditDecision.model_validate(
        {
            "decision_id": "d1",
            "subject": {"kind": kind, "id": subject_id},
            "revision": 1,
            "outcome": outcome,
            "gate": {"name": "g", "version": 1, "digest": "x"},
            "checks": [],
            "inputs": {"event_ids": [], "digest": "x", "offsets": []},
            "decided_at": datetime(2026, 11, 25, tzinfo=UTC),
            "orchestrator_version": "0",
            "model": model,
        }
    )


def test_build_info_names_the_versions_running() -> None:
    """One build_info series, value 1, with this package's and Python's versions."""
    m = metrics()
    family = next(f for f in m.registry.collect() if f.name == "orchestrator_build_info")
    [s] = family.samples
    assert s.value == 1
    assert s.labels["version"] == __version__
    assert s.labels["python"] == platform.python_version()
    assert s.labels["faust"] != "unknown" and s.labels["aiokafka"] != "unknown"


def test_process_and_platform_metrics_are_on_the_served_registry() -> None:
    """The registry /metrics serves carries process_* and python_info (it is not the default)."""
    text = generate_latest(metrics().registry).decode()
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"):
        assert f"\n{name}" in text or text.startswith(name), name


@pytest.mark.parametrize(
    ("kind", "subject_id", "model", "subject"),
    [
        ("data_window", "clicks/2026-11-23T10:00:00Z/PT1H", None, "clicks"),
        ("data_window", "payments/2026-11-23T10:00:00Z/PT5M", None, "payments"),
        ("data_window", "ghosts/2026-11-23T10:00:00Z/PT1H", None, OTHER),
        ("data_window", "not a window id", None, OTHER),
        ("model_version", "churn/v7", "churn", "churn"),
        ("model_version", "fraud/v1", "fraud", OTHER),
        ("command", "c-1", "churn", "churn"),
        ("command", "c-2", None, OTHER),
    ],
)
def test_decisions_are_labelled_by_declared_dataset_or_model(
    kind: str, subject_id: str, model: str | None, subject: str
) -> None:
    """A decision counts under its dataset or model when declared, else under `other`; never
    under its window id or version."""
    m = metrics()
    m.decided(decision(kind, subject_id, model), None)
    labels = {"subject_kind": kind, "subject": subject, "outcome": "reject"}
    assert sample(m, "orchestrator_decisions_total", **labels) == 1
    text = generate_latest(m.registry).decode()
    assert subject_id not in text


def test_arrivals_per_dataset_fold_undeclared_ones_into_other() -> None:
    """Arrivals count per declared dataset; any other dataset name is `other`."""
    m = metrics()
    m.arrived({"clicks": 3, "ghosts": 2, "spooks": 1})
    assert sample(m, "orchestrator_arrivals_total", dataset="clicks") == 3
    assert sample(m, "orchestrator_arrivals_total", dataset=OTHER) == 3
    assert sample(m, "orchestrator_arrivals_total", dataset="ghosts") is None


def test_observer_counts_decoded_arrivals_not_dlq_or_watermarks() -> None:
    """Accepted, late and duplicate arrivals count for their dataset once the batch is flushed;
    invalid records, refused arrivals and watermark events do not."""
    m = metrics()
    observer = EventTimeObserver("data.arrivals", m, lambda: 0.0)
    rec = Rec("data.arrivals", 0, 0, b"clicks", b"{}")
    for event_type, fate in [
        ("data.arrival", "accepted"),
        ("data.arrival", "late"),
        ("data.arrival", "duplicate"),
        ("data.arrival", "dlq"),
        ("data.watermark", "applied"),
        ("invalid", "dlq"),
    ]:
        observer.applied(Applied(event_type, fate), rec)
    assert sample(m, "orchestrator_arrivals_total", dataset="clicks") is None  # not flushed
    observer.batch_done()
    assert sample(m, "orchestrator_arrivals_total", dataset="clicks") == 3


def test_revoked_partitions_lose_their_lag_series() -> None:
    """After a revocation only the partitions still owned export lag; a later set_lag of the
    owned ones does not bring the others back."""
    m = metrics()
    a0, a1, b0 = (TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0))
    m.set_lag({a0: 5, a1: 7, b0: 1})
    m.forget_partitions({a1, TopicPartition("never", 3)})
    assert sample(m, "orchestrator_consumer_lag", topic="a", partition="1") is None
    assert sample(m, "orchestrator_consumer_lag", topic="a", partition="0") == 5
    m.set_lag({a0: 4, b0: 0})
    assert sample(m, "orchestrator_consumer_lag", topic="a", partition="1") is None
    assert sample(m, "orchestrator_consumer_lag", topic="b", partition="0") == 0


def test_lag_series_of_partitions_no_longer_owned_go_on_the_next_update() -> None:
    """set_lag with the owned partitions removes series of any partition not among them."""
    m = metrics()
    a0, a1 = TopicPartition("a", 0), TopicPartition("a", 1)
    m.set_lag({a0: 1, a1: 2})
    m.set_lag({a0: 1})
    assert sample(m, "orchestrator_consumer_lag", topic="a", partition="1") is None


def test_series_that_alerts_take_the_increase_of_start_at_zero() -> None:
    """The first rollback or rejection since the worker started must show as an increase from
    0: each such series of a declared model exists at 0 from the start (none for others)."""
    m = metrics()
    for cause in ("command", "lineage", "live_degraded"):
        assert sample(m, "orchestrator_champion_rollbacks_total", model="churn", cause=cause) == 0
    for cause in ("live_degraded", "replaced", "lineage", "override", "other"):
        assert (
            sample(m, "orchestrator_challenger_rejections_total", model="churn", cause=cause) == 0
        )
    for role in ("champion", "challenger"):
        for counted in ("true", "false"):
            labels = {"model": "churn", "role": role, "counted": counted}
            assert sample(m, "orchestrator_live_intervals_total", **labels) == 0
    assert sample(m, "orchestrator_champion_rollbacks_total", model=OTHER, cause="command") is None
    # the dlq's codes that alerts watch, and each input's broker errors (issue 29's list)
    for code in ("E_INTERNAL", "E_WINDOW_LIMIT", "E_STATE_LIMIT", "E_SCHEMA"):
        assert sample(m, "orchestrator_dlq_total", code=code) == 0
    for name in ("eventtime", "router", "models"):
        assert sample(m, "orchestrator_broker_errors_total", input=name) == 0


def test_a_degraded_champion_kept_for_want_of_a_fallback_is_counted() -> None:
    """`hold` with a failing live guard and no rollback target counts once per decision; a hold
    for other reasons (a version waiting for its data) and a live-degradation rollback do not."""
    m = metrics()

    def with_checks(outcome: str, *codes: str) -> Any:
        d = decision("model_version", "churn:v1", "churn", outcome)
        checks = [
            {"name": c.lower(), "passed": False, "severity": "error", "code": c} for c in codes
        ]
        return AuditDecision.model_validate({**d.model_dump(), "checks": checks})

    assert sample(m, "orchestrator_live_degraded_kept_total", model="churn") == 0
    m.decided(with_checks("hold", "E_LIVE_DEGRADED", "E_NO_ROLLBACK_TARGET"), None)
    m.decided(with_checks("hold", "E_LINEAGE_PENDING"), None)
    m.decided(with_checks("rollback", "E_LIVE_DEGRADED"), None)
    assert sample(m, "orchestrator_live_degraded_kept_total", model="churn") == 1
    assert (
        sample(m, "orchestrator_champion_rollbacks_total", model="churn", cause="live_degraded")
        == 1
    )
