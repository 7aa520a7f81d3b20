"""The worker's staged-rollout metrics, from the real model gates through the worker's observer
(no IO): challengers per model, live figures of the champion and the challenger, intervals
counted or not, live-degradation rollbacks and challenger rejections by cause."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from prometheus_client import generate_latest

from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.events import ModelPerformance
from orchestrator.core.effects import StatePut
from orchestrator.core.rollout import counts
from orchestrator.pipeline.build import Logics
from orchestrator.pipeline.records import Rec
from orchestrator.simulate import EXAMPLE_KEYS
from orchestrator.worker.metrics import Metrics
from orchestrator.worker.models import ModelObserver
from tests import factories
from tests.conftest import ROOT
from tests.unit.simulated_rollout import POLICIES, fraud_log

NOW = datetime(2026, 11, 24, tzinfo=UTC)


class Run:
    """fraud's models.log through ModelLogic and the worker's ModelObserver."""

    def __init__(self) -> None:
        specs = {n: p.gate_spec() for n, p in POLICIES.models.items()}
        catalog = Catalog.load(ROOT / "topics")
        self.logic = Logics(POLICIES, catalog, dict(EXAMPLE_KEYS), version="test").models
        self.engine = self.logic.new_engine()
        self.metrics = Metrics(["clicks", "payments"], POLICIES.models)
        self.observer = ModelObserver(self.metrics, specs)
        #: the partition's changelog as the worker keeps it (key -> latest value)
        self.state: dict[str, object] = {}

    def feed(self, offset: int, key: bytes | None, value: bytes | None) -> str | None:
        """Apply one entry; the event id of a performance entry, else None."""
        rec = Rec("models.log", 0, offset, key, value, 1_795_478_400_000)
        applied = self.logic.apply(self.engine, rec, NOW)
        for change in applied.state:
            if isinstance(change, StatePut):
                self.state[change.key] = change.value
            else:
                self.state.pop(change.key, None)
        self.observer.applied(applied, rec)
        event = orjson.loads(value or b"{}").get("event") or {}
        return event["event_id"] if event.get("type") == "model.performance" else None

    def value(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)


def test_the_simulated_rollout_as_metrics() -> None:
    """Step by step: each live interval shows under the role its version held; a crowned,
    replaced or rolled-back role loses the previous version's figures; the rollback and the
    rejections are counted with their cause."""
    run = Run()
    seen: dict[str, tuple[float | None, ...]] = {}
    for offset, key, value, _ in fraud_log(seed=7):
        eid = run.feed(offset, key, value)
        if eid is not None:
            seen[eid] = (
                run.value(
                    "orchestrator_live_metric", model="fraud", role="champion", metric="recall"
                ),
                run.value(
                    "orchestrator_live_metric", model="fraud", role="challenger", metric="recall"
                ),
                run.value("orchestrator_challenger", model="fraud"),
            )
    intervals = {
        e["event_id"]: e
        for e in (orjson.loads(v).get("event") or {} for _, _, v, _ in fraud_log(seed=7) if v)
        if e.get("type") == "model.performance"
    }

    def recall(eid: str) -> float:
        return float(intervals[eid]["metrics"]["recall"])

    # models phase: v1's figure as champion; v3's first two as challenger beside it
    assert seen["fraud-v1-live-1"] == (recall("fraud-v1-live-1"), None, 1)
    assert seen["fraud-v3-live-3"] == (recall("fraud-v1-live-1"), recall("fraud-v3-live-3"), 1)
    # the third crowns v3: both roles changed, neither keeps the previous versions' figures
    assert seen["fraud-v3-live-4"] == (None, None, 0)
    # live phase: v3 serves as champion beside v5, which is crowned after three
    assert seen["fraud-v5-live-6"] == (recall("fraud-v3-live-5"), recall("fraud-v5-live-6"), 1)
    assert seen["fraud-v5-live-8"] == (None, None, 0)
    # v5 degrades: rolled back to v3 (its figure was reported, then the champion changed)
    assert seen["fraud-v5-live-9"] == (None, None, 0)
    assert seen["fraud-v3-live-10"] == (recall("fraud-v3-live-10"), None, 1)
    assert seen["fraud-v6-live-11"] == (recall("fraud-v3-live-10"), None, 0)  # rejected
    assert (
        run.value("orchestrator_champion_rollbacks_total", model="fraud", cause="live_degraded")
        == 1
    )
    assert run.value("orchestrator_champion_rollbacks_total", model="fraud", cause="command") == 1
    assert run.value("orchestrator_champion_rollbacks_total", model="fraud", cause="lineage") == 0
    rejected = {
        cause: run.value("orchestrator_challenger_rejections_total", model="fraud", cause=cause)
        for cause in ("live_degraded", "lineage", "replaced", "override", "other")
    }
    assert rejected == {
        "live_degraded": 1,  # v6
        "lineage": 1,  # v4, whose window was retracted while it was challenger
        "replaced": 0,
        "override": 0,
        "other": 0,
    }
    # every interval of the champion or challenger counted (enough samples, a recall figure)
    assert (
        run.value(
            "orchestrator_live_intervals_total", model="fraud", role="champion", counted="true"
        )
        == 4
    )
    assert (
        run.value(
            "orchestrator_live_intervals_total", model="fraud", role="challenger", counted="true"
        )
        == 7
    )
    assert run.value("orchestrator_challenger", model="churn") == 0
    text = generate_latest(run.metrics.registry).decode()
    assert "fraud-v" not in text and 'version="v5"' not in text  # no event ids or versions


def test_intervals_that_cannot_count_or_repeat_are_shown_but_not_counted_twice() -> None:
    """An interval with too few samples is reported and counted as `false`; an exact repeat of
    an interval is not reported again; another version's interval is not reported at all."""
    run = Run()
    log = fraud_log(seed=7)
    upto = next(
        i for i, (_, _, v, _) in enumerate(log) if b'"fraud-v3-live-2"' in (v or b"")
    )  # v3 is challenger, v1 champion
    for offset, key, value, _ in log[:upto]:
        run.feed(offset, key, value)
    entry = orjson.loads(log[upto][2] or b"")
    few = {**entry, "event": {**entry["event"], "event_id": "few", "sample_count": 10}}
    few["event"]["metrics"] = {**few["event"]["metrics"], "auc": 0.5}  # not a fraud metric
    other = {**entry, "event": {**entry["event"], "event_id": "other", "version": "v2"}}
    for i, e in enumerate([few, few, other]):
        run.feed(len(log) + i, b"fraud", orjson.dumps(e))
    labels = {"model": "fraud", "role": "challenger"}
    assert run.value("orchestrator_live_intervals_total", **labels, counted="false") == 1
    assert run.value("orchestrator_live_intervals_total", **labels, counted="true") == 0
    assert run.value("orchestrator_live_samples", **labels) == 10
    assert run.value("orchestrator_live_metric", **labels, metric="auc") is None
    assert (
        run.value("orchestrator_live_metric", **labels, metric="recall")
        == entry["event"]["metrics"]["recall"]
    )


def test_recovery_restores_the_champion_and_challenger_from_the_gates() -> None:
    """A worker that recovers a gate with a challenger exports it at once, and the next
    interval of that challenger is reported under its role."""
    run = Run()
    log = fraud_log(seed=7)
    upto = next(i for i, (_, _, v, _) in enumerate(log) if b'"fraud-v3-live-2"' in (v or b""))
    for offset, key, value, _ in log[:upto]:
        run.feed(offset, key, value)
    fresh = Run()
    part = fresh.logic.restore(list(run.state.items()))
    for model, gate in part.gates.items():
        fresh.observer.champion(model, gate.champion, gate.challenger)
    fresh.engine = part
    assert fresh.value("orchestrator_challenger", model="fraud") == 1
    assert fresh.value("orchestrator_champion_info", model="fraud", version="v1") == 1
    fresh.feed(*log[upto][:3])
    assert (
        fresh.value("orchestrator_live_metric", model="fraud", role="challenger", metric="recall")
        is not None
    )


def test_an_interval_counts_with_min_samples_and_a_guard_figure() -> None:
    """The rule the gate and the `counted` label share: at least min_samples samples (exactly
    min_samples is enough) and a figure for the guard metric."""
    rollout = POLICIES.models["fraud"].gate_spec().rollout
    assert rollout is not None and rollout.min_samples == 1000
    base = factories.performance(model="fraud")
    cases = [
        (1000, {"recall": 0.9}, True),
        (999, {"recall": 0.9}, False),
        (5000, {"auc": 0.9}, False),
    ]
    for samples, metrics, expected in cases:
        perf = ModelPerformance.model_validate(
            {**base, "sample_count": samples, "metrics": metrics}
        )
        assert counts(rollout, perf) is expected, (samples, metrics)


def test_a_revoked_partition_takes_its_models_series_with_it() -> None:
    """When a models.log partition moves to another worker, this one stops exporting the
    champion, the challenger and the live figures of its models (the new owner exports them;
    stale ones here would keep `max by (model)` at a challenger that is long gone)."""
    from aiokafka import TopicPartition

    from orchestrator.pipeline.shell import Shell

    run = Run()
    log = fraud_log(seed=7)
    upto = next(i for i, (_, _, v, _) in enumerate(log) if b'"fraud-v3-live-2"' in (v or b""))
    for offset, key, value, _ in log[: upto + 1]:
        run.feed(offset, key, value)
    assert run.value("orchestrator_challenger", model="fraud") == 1
    assert run.value("orchestrator_champion_info", model="fraud", version="v1") == 1
    labels = {"model": "fraud", "role": "challenger", "metric": "recall"}
    assert run.value("orchestrator_live_metric", **labels) is not None
    shell = Shell("models", run.logic, observer=run.observer)
    tp = TopicPartition("models.log", 0)
    shell.engines[tp] = run.engine
    shell.forget([tp])
    assert run.value("orchestrator_challenger", model="fraud") == 0
    assert run.value("orchestrator_champion_info", model="fraud", version="v1") is None
    assert run.value("orchestrator_live_metric", **labels) is None
    assert run.value("orchestrator_live_samples", model="fraud", role="challenger") is None
    # what this worker counted stays: counters are its own history
    assert run.value(
        "orchestrator_live_intervals_total", model="fraud", role="challenger", counted="true"
    )


def test_an_interval_sent_again_under_a_new_id_is_shown_as_not_counted() -> None:
    """The gate ignores an interval that repeats one it counted (re-sent under a fresh event id):
    the worker's `counted` label says what the gate did, not what the interval could do."""
    run = Run()
    log = fraud_log(seed=7)
    upto = next(i for i, (_, _, v, _) in enumerate(log) if b'"fraud-v3-live-2"' in (v or b""))
    for offset, key, value, _ in log[: upto + 1]:
        run.feed(offset, key, value)
    labels = {"model": "fraud", "role": "challenger"}
    before = run.value("orchestrator_live_intervals_total", **labels, counted="true")
    entry = orjson.loads(log[upto][2] or b"")
    again = {**entry, "event": {**entry["event"], "event_id": "fraud-v3-live-2-again"}}
    run.feed(len(log), b"fraud", orjson.dumps(again))
    assert run.value("orchestrator_live_intervals_total", **labels, counted="true") == before
    assert run.value("orchestrator_live_intervals_total", **labels, counted="false") == 1
