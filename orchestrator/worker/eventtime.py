"""What the worker does around the event-time logic: metrics and logs of each applied record,
the wall clock of the last event per dataset (idle sources), the watermark gauges."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import structlog

from orchestrator.core.effects import (
    Accepted,
    Decided,
    Duplicate,
    Rejected,
    StatePut,
    TooLate,
    WatermarkAdvanced,
    WindowFired,
)
from orchestrator.core.engine import EventTimeEngine
from orchestrator.pipeline.observer import Observer
from orchestrator.pipeline.records import Applied, InputRecord
from orchestrator.worker.metrics import Metrics

log = structlog.get_logger("orchestrator.eventtime")


class EventTimeObserver(Observer[EventTimeEngine]):
    """Metrics and logs of every arrival the shell handled (no IO but metrics)."""

    def __init__(self, topic: str, metrics: Metrics, wall_clock: Callable[[], float]) -> None:
        self.topic = topic
        self.metrics = metrics
        self.wall_clock = wall_clock
        #: wall-clock seconds of the last event seen per dataset (idle-source detection)
        self.last_seen: dict[str, float] = {}
        self.watermarks: dict[str, int] = {}
        self._fates: Counter[tuple[str, str]] = Counter()
        #: this batch's datasets, by record key (decoded once per batch, not per event)
        self._seen: set[bytes] = set()
        self._arrivals: Counter[bytes] = Counter()
        self._advanced: set[str] = set()

    def batch_done(self) -> None:
        """Counters and gauges once per batch, not once per event."""
        for (event_type, fate), n in self._fates.items():
            self.metrics.event(self.topic, event_type, fate, n)
        self._fates.clear()
        if self._seen:
            now, last_seen = self.wall_clock(), self.last_seen
            for key in self._seen:
                last_seen[key.decode("utf-8", "replace")] = now
            self._seen.clear()
        if self._arrivals:
            self.metrics.arrived(
                Counter({k.decode("utf-8", "replace"): n for k, n in self._arrivals.items()})
            )
            self._arrivals.clear()
        for dataset in self._advanced:
            self.metrics.set_watermark(dataset, self.watermarks[dataset] / 1000)
        self._advanced.clear()

    def refused(self, code: str) -> None:
        self.metrics.dlq_code(code)

    def applied(self, applied: Applied, record: InputRecord) -> None:
        event_type, fate, key = applied.event_type, applied.fate, record.key
        self._fates[(event_type, fate)] += 1
        if event_type != "invalid" and key is not None:
            # a decoded event: its key is its dataset (seen now: the batch's end is now)
            self._seen.add(key)
            if event_type == "data.arrival" and fate != "dlq":
                self._arrivals[key] += 1
        if applied.code is not None:
            self.metrics.dlq_code(applied.code)
            if applied.event_type == "invalid":
                log.warning(
                    "invalid input",
                    code=applied.code,
                    event_id=applied.event_id,
                    partition=record.partition,
                    offset=record.offset,
                )
        for effect in applied.effects:
            kind = type(effect)
            if kind is StatePut or kind is Accepted:  # most effects: nothing to count
                continue
            if kind is WatermarkAdvanced:
                assert isinstance(effect, WatermarkAdvanced)
                self.watermarks[effect.dataset] = effect.watermark_ms
                self._advanced.add(effect.dataset)
            elif kind is WindowFired:
                assert isinstance(effect, WindowFired)
                m = effect.manifest
                self.metrics.windows_fired.labels(m.dataset, "1" if m.revision == 1 else "n").inc()
                log.info(
                    "window fired",
                    window_id=m.window_id,
                    revision=m.revision,
                    arrivals=len(m.arrivals),
                    record_total=m.record_total,
                )
            elif kind is Decided:
                assert isinstance(effect, Decided)
                d = effect.decision
                self.metrics.decided(d, record.timestamp)
                log.info(
                    "decision",
                    decision_id=d.decision_id,
                    window_id=d.subject.id,
                    revision=d.revision,
                    outcome=d.outcome,
                    failed=[c.code for c in d.checks if not c.passed],
                )
            elif kind is TooLate:
                assert isinstance(effect, TooLate)
                self.metrics.late.labels(effect.event.dataset).inc()
                log.info("too late", event_id=effect.event.event_id, window_id=effect.window_id)
            elif kind is Rejected:
                assert isinstance(effect, Rejected)
                log.warning(
                    "rejected", code=effect.code, event_id=effect.event_id, reason=effect.message
                )
            elif kind is Duplicate:
                assert isinstance(effect, Duplicate)
                self.metrics.duplicates.labels(effect.dataset).inc()
