"""The event-time shell: decode arrivals, feed the core per partition, carry out its effects.

Fired windows go to `data.windows`, their data-gate decisions to `audit.decisions` and, as
notices, to `models.log` for every model whose policy lists the dataset.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, cast

import structlog

from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.codec import decode, encode
from orchestrator.contracts.events import DataArrival, DataWatermark
from orchestrator.contracts.modellog import notice_record
from orchestrator.contracts.records import SourceOffset
from orchestrator.core.datagate import DataGate
from orchestrator.core.effects import (
    Accepted,
    Decided,
    Duplicate,
    Effect,
    Rejected,
    StateDelete,
    StatePut,
    TooLate,
    WatermarkAdvanced,
    WindowFired,
)
from orchestrator.core.engine import EventTimeEngine
from orchestrator.core.modelgate import DataNotice
from orchestrator.core.policy import DatasetSpec
from orchestrator.errors import ContractError
from orchestrator.worker.metrics import Metrics
from orchestrator.worker.outputs import Output, Outputs, late_record, utcnow
from orchestrator.worker.partitioned import PartitionedShell

log = structlog.get_logger("orchestrator.eventtime")


class EventTimeShell(PartitionedShell[EventTimeEngine]):
    input_role = "arrivals"
    state_role = "eventtime_state"

    def __init__(
        self,
        specs: dict[str, DatasetSpec],
        catalog: Catalog,
        outputs: Outputs,
        bootstrap: str,
        *,
        wall_clock: Callable[[], float],
        gates: dict[str, Callable[[], DataGate]] | None = None,
        models_by_dataset: dict[str, list[str]] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(catalog, outputs, bootstrap)
        self.specs = specs
        self.gates = gates or {}
        self.models_by_dataset = models_by_dataset or {}
        self.wall_clock = wall_clock
        self.metrics = metrics or Metrics()
        #: wall-clock seconds of the last event seen per dataset (idle-source detection).
        self.last_seen: dict[str, float] = {}
        self.watermarks: dict[str, int] = {}
        self.topic = catalog.name(self.input_role)
        #: per batch: the clock readings, and the events counted by (type, fate)
        self._now = utcnow()
        self._wall = wall_clock()
        self._fates: Counter[tuple[str, str]] = Counter()
        #: datasets whose watermark advanced in this batch (the gauge is set once per batch)
        self._advanced: set[str] = set()

    def begin_batch(self) -> None:
        # one clock reading per batch: decided_at and idle detection need no finer grain
        self._now = utcnow()
        self._wall = self.wall_clock()

    def end_batch(self) -> None:
        for (event_type, fate), n in self._fates.items():
            self.metrics.event(self.topic, event_type, fate, n)
        self._fates.clear()
        for dataset in self._advanced:
            self.metrics.set_watermark(dataset, self.watermarks[dataset] / 1000)
        self._advanced.clear()

    def restore_engine(self, entries: list[tuple[str, Any]]) -> EventTimeEngine:
        return EventTimeEngine.restore(self.specs, entries, self.gates)

    def new_engine(self) -> EventTimeEngine:
        return EventTimeEngine(self.specs, self.gates)

    def apply(
        self,
        engine: EventTimeEngine,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        timestamp_ms: int | None = None,
    ) -> list[Output]:
        try:
            event = decode(value, key, topic_role="arrivals")
        except ContractError as exc:
            engine.skip(offset)
            self._fates[("invalid", "dlq")] += 1
            log.warning(
                "invalid input",
                code=exc.code,
                reason=exc.message,
                event_id=exc.event_id,
                partition=partition,
                offset=offset,
            )
            return [
                self.outputs.dlq(
                    exc.code, exc.message, exc.event_id, value, key, self.topic, partition, offset
                )
            ]
        # decode(topic_role="arrivals") admits only these two types
        arrival = cast(DataArrival | DataWatermark, event)
        self.last_seen[arrival.dataset] = self._wall
        effects = engine.handle(arrival, partition, offset, self._now)
        return self.carry_out(effects, partition, key, value, offset, event.type, timestamp_ms)

    def carry_out(
        self,
        effects: list[Effect],
        partition: int,
        key: bytes | None,
        value: bytes | None,
        offset: int,
        event_type: str = "data.arrival",
        timestamp_ms: int | None = None,
    ) -> list[Output]:
        """State to the changelog buffer, metrics and logs here; output records returned."""
        out: list[Output] = []
        fate = "applied"
        for effect in effects:
            kind = type(effect)
            if kind is StatePut:
                self.put(partition, effect)  # type: ignore[arg-type]
            elif kind is Accepted:
                fate = "accepted"
            elif kind is WatermarkAdvanced:
                assert isinstance(effect, WatermarkAdvanced)
                self.watermarks[effect.dataset] = effect.watermark_ms
                self._advanced.add(effect.dataset)
            elif kind is StateDelete:
                assert isinstance(effect, StateDelete)
                self.put(partition, (effect.key, None))
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
                out.append(("windows", m.dataset.encode(), encode(m)))
            elif kind is Decided:
                assert isinstance(effect, Decided)
                out += self.decided(effect, partition, offset, timestamp_ms)
            elif kind is TooLate:
                assert isinstance(effect, TooLate)
                fate = "late"
                self.metrics.late.labels(effect.event.dataset).inc()
                log.info("too late", event_id=effect.event.event_id, window_id=effect.window_id)
                out.append(("late", effect.event.dataset.encode(), late_record(effect)))
            elif kind is Rejected:
                assert isinstance(effect, Rejected)
                fate = "dlq"
                log.warning(
                    "rejected", code=effect.code, event_id=effect.event_id, reason=effect.message
                )
                out.append(
                    self.outputs.dlq(
                        effect.code,
                        effect.message,
                        effect.event_id,
                        value,
                        key,
                        self.topic,
                        partition,
                        offset,
                    )
                )
            elif kind is Duplicate:
                assert isinstance(effect, Duplicate)
                fate = "duplicate"
                self.metrics.duplicates.labels(effect.dataset).inc()
        self._fates[(event_type, fate)] += 1
        return out

    def decided(
        self, effect: Decided, partition: int, offset: int, timestamp_ms: int | None
    ) -> list[Output]:
        d = effect.decision
        dataset = d.subject.id.split("/", 1)[0]
        log.info(
            "decision",
            decision_id=d.decision_id,
            window_id=d.subject.id,
            revision=d.revision,
            outcome=d.outcome,
            failed=[c.code for c in d.checks if not c.passed],
        )
        out: list[Output] = [("audit", d.subject.id.encode(), encode(d))]
        self.metrics.decided(d, timestamp_ms)
        notice = DataNotice(d.subject.id, d.outcome, d.decision_id)
        source = SourceOffset(topic=self.topic, partition=partition, offset=offset)
        for model in self.models_by_dataset.get(dataset, []):
            out.append(("model_log", model.encode(), notice_record(notice, source)))
        return out
