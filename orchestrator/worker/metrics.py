"""Prometheus metrics of a worker (SPEC §7). Labels are bounded: topics, types, results, codes,
datasets, models and versions from the policies, partitions; never event ids, window ids or uris.
A dataset or model that no policy declares is counted under `other`."""

from __future__ import annotations

import platform
import time
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from orchestrator import __version__
from orchestrator.contracts.records import AuditDecision
from orchestrator.core.timeutil import dataset_start
from orchestrator.errors import (
    DLQ_CODES,
    E_CHALLENGER_REPLACED,
    E_LINEAGE_REJECTED,
    E_LIVE_DEGRADED,
    E_NO_ROLLBACK_TARGET,
)
from orchestrator.worker.retrain_metrics import RetrainMetrics

#: the `subject`/`dataset` label of a dataset or model no policy declares
OTHER = "other"

#: the `cause` of a champion rollback or a challenger's rejection, by the code of its failed check
CAUSES = {
    E_LIVE_DEGRADED: "live_degraded",
    E_CHALLENGER_REPLACED: "replaced",
    E_LINEAGE_REJECTED: "lineage",
}
#: the `cause` labels of champion rollbacks and challenger rejections (all made at 0 at start)
ROLLBACK_CAUSES = ("command", "lineage", "live_degraded")
REJECTION_CAUSES = ("live_degraded", "replaced", "lineage", "override", "other")


def _dist_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


class Metrics:
    """The worker's registry. `datasets` and `models` are the declared ones (policies): the only
    values, with `other`, of the `subject` and per-dataset labels that come from input."""

    def __init__(
        self,
        datasets: Iterable[str] = (),
        models: Iterable[str] = (),
        drift: Iterable[tuple[str, str, str, str]] = (),
    ) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.datasets = frozenset(datasets)
        self.models = frozenset(models)
        # the default registry's process_* and python_info, on the registry /metrics serves
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.build_info = Gauge(
            "orchestrator_build_info",
            "1, labelled with the versions this worker runs",
            ["version", "python", "faust", "aiokafka"],
            registry=r,
        )
        self.build_info.labels(
            __version__,
            platform.python_version(),
            _dist_version("faust-streaming"),
            _dist_version("aiokafka"),
        ).set(1)
        self.events = Counter(
            "orchestrator_events_total",
            "Input records by topic, event type and result",
            ["topic", "type", "result"],
            registry=r,
        )
        self.watermark = Gauge(
            "orchestrator_watermark_timestamp_seconds",
            "Dataset watermark WM(D) (event time)",
            ["dataset"],
            registry=r,
        )
        self.windows_open = Gauge(
            "orchestrator_windows_open",
            "Windows whose state is kept (not past end + L)",
            ["dataset"],
            registry=r,
        )
        self.windows_overdue = Gauge(
            "orchestrator_windows_overdue",
            "Open windows not fired by end + expected_by (wall clock)",
            ["dataset"],
            registry=r,
        )
        self.windows_fired = Counter(
            "orchestrator_windows_fired_total",
            "Window revisions fired",
            ["dataset", "revision"],
            registry=r,
        )
        self.arrivals = Counter(
            "orchestrator_arrivals_total",
            "Decoded data arrivals per dataset, whatever became of them (window, late, duplicate)",
            ["dataset"],
            registry=r,
        )
        self.late = Counter(
            "orchestrator_late_total",
            "Arrivals judged too late (E_TOO_LATE)",
            ["dataset"],
            registry=r,
        )
        self.duplicates = Counter(
            "orchestrator_duplicates_total", "Duplicate arrivals ignored", ["dataset"], registry=r
        )
        self.decisions = Counter(
            "orchestrator_decisions_total",
            "Decisions recorded; subject: the dataset of a data window, the model of a model "
            "version or command",
            ["subject_kind", "subject", "outcome"],
            registry=r,
        )
        self.check_failures = Counter(
            "orchestrator_check_failures_total", "Failed gate checks by code", ["code"], registry=r
        )
        self.latency = Histogram(
            "orchestrator_decision_latency_seconds",
            "From the broker timestamp of the triggering event to the decision's production",
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.dlq = Counter(
            "orchestrator_dlq_total", "Records sent to the dlq by code", ["code"], registry=r
        )
        for code in sorted(DLQ_CODES):  # at 0 from the start: an alert sees the first one
            self.dlq.labels(code)
        self.champion = Gauge(
            "orchestrator_champion_info",
            "1 for the current champion version of a model",
            ["model", "version"],
            registry=r,
        )
        self.rollbacks = Counter(
            "orchestrator_champion_rollbacks_total",
            "Champions rolled back",
            ["model", "cause"],
            registry=r,
        )
        self.degraded_kept = Counter(
            "orchestrator_live_degraded_kept_total",
            "Champions whose live metrics degraded with no earlier clean champion to roll back "
            "to: kept serving (decided hold with E_LIVE_DEGRADED and E_NO_ROLLBACK_TARGET)",
            ["model"],
            registry=r,
        )
        self.challenger = Gauge(
            "orchestrator_challenger",
            "1 while a model has a challenger in a staged rollout (a version that passed the gate "
            "and waits for its live intervals), else 0",
            ["model"],
            registry=r,
        )
        for model in sorted(self.models):
            self.challenger.labels(model).set(0)
        self.challenger_rejections = Counter(
            "orchestrator_challenger_rejections_total",
            "Challengers of a staged rollout dropped instead of crowned, by cause (live_degraded, "
            "replaced, lineage, override, other)",
            ["model", "cause"],
            registry=r,
        )
        self.live_metric = Gauge(
            "orchestrator_live_metric",
            "Latest figure of a required metric reported by model.performance for the model's "
            "current champion or challenger (role)",
            ["model", "role", "metric"],
            registry=r,
        )
        self.live_samples = Gauge(
            "orchestrator_live_samples",
            "Sample count of the latest model.performance interval of the model's current "
            "champion or challenger (role)",
            ["model", "role"],
            registry=r,
        )
        self.live_intervals = Counter(
            "orchestrator_live_intervals_total",
            "model.performance intervals of a model's champion or challenger; counted: the "
            "staged rollout can use it (at least min_samples samples, a figure for the guard)",
            ["model", "role", "counted"],
            registry=r,
        )
        # Every series an alert takes increase() of exists from the start at 0: a counter
        # whose first sample is already 1 (the first rollback since the worker started) has no
        # increase to show, and the alert would stay silent.
        for model in sorted(self.models):
            for cause in ROLLBACK_CAUSES:
                self.rollbacks.labels(model, cause)
            self.degraded_kept.labels(model)
            for cause in REJECTION_CAUSES:
                self.challenger_rejections.labels(model, cause)
            for role in ("champion", "challenger"):
                for counted in ("true", "false"):
                    self.live_intervals.labels(model, role, counted)
        self.lag = Gauge(
            "orchestrator_consumer_lag",
            "Records behind the end of the partition",
            ["topic", "partition"],
            registry=r,
        )
        self.broker_errors = Counter(
            "orchestrator_broker_errors_total",
            "Broker failures that made an input throw away its unsaved state and rebuild",
            ["input"],
            registry=r,
        )
        for name in ("eventtime", "router", "models"):  # at 0 from the start, like the dlq
            self.broker_errors.labels(name)
        self.checkpoint_splits = Counter(
            "orchestrator_checkpoint_split_total",
            "Checkpoints too large for one record batch (written in several, not atomically)",
            registry=r,
        )
        self.ready = Gauge(
            "orchestrator_ready", "1 when topics are verified and state is recovered", registry=r
        )
        self.retraining = RetrainMetrics(r, self.subject, self.models, drift)
        self._champions: dict[str, str] = {}
        self._live: dict[tuple[str, str], set[str]] = {}
        self._lag_labels: set[tuple[str, str]] = set()
        self._event_children: dict[tuple[str, str, str], Any] = {}
        self._watermark_children: dict[str, Any] = {}

    def event(self, topic: str, type_: str, result: str, n: int = 1) -> None:
        # labels() costs a few µs per call; the hot path keeps the children it has seen.
        child = self._event_children.get((topic, type_, result))
        if child is None:
            child = self._event_children[(topic, type_, result)] = self.events.labels(
                topic, type_, result
            )
        child.inc(n)

    def dlq_code(self, code: str) -> None:
        """One record sent to the dlq with `code`."""
        self.dlq.labels(code).inc()

    def set_watermark(self, dataset: str, seconds: float) -> None:
        child = self._watermark_children.get(dataset)
        if child is None:
            child = self._watermark_children[dataset] = self.watermark.labels(dataset)
        child.set(seconds)

    def dataset_label(self, dataset: str) -> str:
        """`dataset` if a policy declares it, else `other` (bounded cardinality)."""
        return dataset if dataset in self.datasets else OTHER

    def subject(self, d: AuditDecision) -> str:
        """The dataset of a data-window decision, the model of any other; `other` if undeclared."""
        if d.subject.kind == "data_window":
            return self.dataset_label(dataset_start(d.subject.id)[0])
        return d.model if d.model in self.models else OTHER

    def arrived(self, per_dataset: Mapping[str, int]) -> None:
        """Decoded arrivals per dataset (one call per batch)."""
        for dataset, n in per_dataset.items():
            self.arrivals.labels(self.dataset_label(dataset)).inc(n)

    def decided(
        self, d: AuditDecision, trigger_ts_ms: int | None, challenger: str | None = None
    ) -> None:
        """One decision; `challenger`: the model's challenger before it (a decision that drops
        it counts as a challenger rejection)."""
        self.decisions.labels(d.subject.kind, self.subject(d), d.outcome).inc()
        self.retraining.decided(d)
        failed = [c.code for c in d.checks if not c.passed]
        for code in failed:
            self.check_failures.labels(code).inc()
        if trigger_ts_ms:
            self.latency.observe(max(0.0, time.time() - trigger_ts_ms / 1000))
        if d.outcome == "rollback" and d.model:
            cause = "command" if d.subject.kind == "command" else _cause(failed, "lineage")
            self.rollbacks.labels(d.model, cause).inc()
        if (
            d.outcome == "hold"
            and d.subject.kind == "model_version"
            and E_LIVE_DEGRADED in failed
            and E_NO_ROLLBACK_TARGET in failed
        ):
            self.degraded_kept.labels(self.subject(d)).inc()
        version = d.subject.id.partition(":")[2] if d.subject.kind == "model_version" else None
        if (
            d.model
            and version is not None
            and version == challenger
            and d.outcome in ("reject", "override")
            and d.champion_after != version
        ):
            default = "override" if d.outcome == "override" else "other"
            self.challenger_rejections.labels(self.subject(d), _cause(failed, default)).inc()

    def set_challenger(self, model: str, version: str | None) -> None:
        """Whether `model` has a challenger now (1) or not (0)."""
        if model in self.models:
            self.challenger.labels(model).set(0 if version is None else 1)

    def live(
        self,
        model: str,
        role: str,
        figures: Mapping[str, float],
        samples: int,
        counted: bool,
    ) -> None:
        """A model.performance interval of `model`'s champion or challenger (`role`); `figures`
        only of the policy's required metrics (bounded labels)."""
        if model not in self.models:
            return
        self.live_intervals.labels(model, role, "true" if counted else "false").inc()
        self.live_samples.labels(model, role).set(samples)
        names = self._live.setdefault((model, role), set())
        for metric, value in figures.items():
            self.live_metric.labels(model, role, metric).set(value)
            names.add(metric)

    def forget_live(self, model: str, role: str) -> None:
        """The version in `role` changed: its figures are not the new one's."""
        names = self._live.pop((model, role), None)
        if names is None:
            return
        for metric in names:
            self.live_metric.remove(model, role, metric)
        self.live_samples.remove(model, role)

    def set_lag(self, lags: dict[Any, int]) -> None:
        """Consumer lag per (topic, partition) owned now; series of partitions no longer
        owned (revoked in a rebalance) are removed, not left at their last value."""
        current = {(tp.topic, str(tp.partition)) for tp in lags}
        for labels in self._lag_labels - current:
            self.lag.remove(*labels)
        for tp, lag in lags.items():
            self.lag.labels(tp.topic, str(tp.partition)).set(lag)
        self._lag_labels = current

    def forget_partitions(self, partitions: Iterable[Any]) -> None:
        """Remove the per-partition series of partitions this worker no longer owns (revoked):
        another worker exports them now."""
        for tp in partitions:
            labels = (tp.topic, str(tp.partition))
            if labels in self._lag_labels:
                self.lag.remove(*labels)
                self._lag_labels.discard(labels)

    def forget_model(self, model: str) -> None:
        """Drop the series of `model`'s current state (champion, challenger, live figures):
        another worker owns its partition now. Counters stay (they are this worker's counts)."""
        self.set_champion(model, None)
        for role in ("champion", "challenger"):
            self.forget_live(model, role)
        self.set_challenger(model, None)  # 0, as on a worker that never held the model

    def set_champion(self, model: str, version: str | None) -> None:
        old = self._champions.pop(model, None)
        if old is not None:
            self.champion.remove(model, old)
        if version is not None:
            self.champion.labels(model, version).set(1)
            self._champions[model] = version


def _cause(failed: list[str], default: str) -> str:
    """The `cause` label of a rollback or challenger rejection from its failed checks' codes."""
    return next((CAUSES[c] for c in failed if c in CAUSES), default)
