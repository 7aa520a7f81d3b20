"""Drift and retraining metrics (README "Drift", "Retraining triggers"): the latest figure of
each drift check per dataset, column and statistic (columns are the policy's own: bounded),
and training requests by model and reason."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge

from orchestrator.contracts.records import AuditDecision
from orchestrator.core.retrain import reason_of
from orchestrator.policies import Policies

REASONS = ("every", "drift", "live", "plateau")


def drift_series(policies: Policies) -> list[tuple[str, str, str, str]]:
    """(dataset, column, stat, severity) of every drift check the policies declare."""
    out: list[tuple[str, str, str, str]] = []
    for name, p in sorted(policies.datasets.items()):
        spec = p.drift_spec()
        if spec is not None:
            out += [(name, c.column, c.stat, c.severity) for c in spec.checks]
    return out


class RetrainMetrics:
    def __init__(
        self,
        r: CollectorRegistry,
        subject: Callable[[AuditDecision], str],
        models: frozenset[str],
        drift: Iterable[tuple[str, str, str, str]] = (),
    ) -> None:
        """`drift`: (dataset, column, stat, severity) of every drift check the policies
        declare, whose failure counter is made at 0 from the start."""
        self.subject = subject
        self.drift = Gauge(
            "orchestrator_drift",
            "Latest figure of a drift check (psi, ks, mean_shift) of a dataset's column",
            ["dataset", "column", "stat"],
            registry=r,
        )
        self.drift_failed = Counter(
            "orchestrator_drift_failed_total",
            "Window decisions whose drift check was beyond its bound, by severity",
            ["dataset", "column", "stat", "severity"],
            registry=r,
        )
        self.requests = Counter(
            "orchestrator_training_requests_total",
            "Retraining requests by model and reason (every, drift, live, plateau)",
            ["model", "reason"],
            registry=r,
        )
        for labels in drift:  # at 0 from the start: an alert can fire on the first one
            self.drift_failed.labels(*labels)
        for model in models:
            for reason in REASONS:
                self.requests.labels(model, reason)

    def decided(self, d: AuditDecision) -> None:
        if d.subject.kind == "data_window":
            dataset = self.subject(d)
            for c in d.checks:
                if not c.name.startswith("drift."):
                    continue
                _, column, stat = c.name.split(".", 2)
                value = c.observed.get("value") if isinstance(c.observed, dict) else None
                if isinstance(value, int | float):
                    self.drift.labels(dataset, column, stat).set(value)
                elif value == "inf":
                    self.drift.labels(dataset, column, stat).set(float("inf"))
                if not c.passed:
                    self.drift_failed.labels(dataset, column, stat, c.severity).inc()
        reason = reason_of(d)
        if reason is not None:
            self.requests.labels(self.subject(d), reason).inc()
