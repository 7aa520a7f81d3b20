"""The event-time shell: decode, feed the core per partition, carry out effects, keep state durable.

Durability without transactions (the embedded broker has none):
- outputs are produced first; the state changelog is written only after those outputs are
  acknowledged, so state never runs ahead of what downstream has seen;
- the changelog holds the input position P (next offset reflected in state). On (re)assignment a
  partition is rebuilt from its changelog and, if the consumer resumes past P, the gap [P, o) is
  re-read from the input and re-processed. Re-processing re-emits identical records (same ids,
  revisions, digests): duplicates are possible, conflicting records are not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog

from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.codec import decode, encode
from orchestrator.contracts.events import DataArrival, DataWatermark
from orchestrator.core.effects import (
    Accepted,
    Duplicate,
    Effect,
    Rejected,
    StateDelete,
    StatePut,
    TooLate,
    WatermarkAdvanced,
    WindowDropped,
    WindowFired,
)
from orchestrator.core.engine import EventTimeEngine
from orchestrator.core.policy import DatasetSpec
from orchestrator.errors import ContractError
from orchestrator.kafka.read import read_range
from orchestrator.worker.outputs import Outputs, dlq_record, late_record, utcnow

log = structlog.get_logger("orchestrator.eventtime")


@dataclass
class Counters:
    """What happened, for metrics and tests; keyed by (kind, label)."""

    values: dict[tuple[str, str], int] = field(default_factory=dict)

    def inc(self, kind: str, label: str = "", n: int = 1) -> None:
        self.values[(kind, label)] = self.values.get((kind, label), 0) + n


class EventTimeShell:
    def __init__(
        self,
        specs: dict[str, DatasetSpec],
        catalog: Catalog,
        outputs: Outputs,
        bootstrap: str,
        *,
        wall_clock: Callable[[], float],
    ) -> None:
        self.specs = specs
        self.catalog = catalog
        self.outputs = outputs
        self.bootstrap = bootstrap
        self.wall_clock = wall_clock
        self.engines: dict[int, EventTimeEngine] = {}
        self.dirty: dict[int, dict[str, object]] = {}
        self.counters = Counters()
        #: wall-clock seconds of the last event seen per dataset (idle-source detection).
        self.last_seen: dict[str, float] = {}
        self.watermarks: dict[str, int] = {}
        self._lock = asyncio.Lock()

    # -- per record ---------------------------------------------------------------------------

    async def process(
        self, partition: int, offset: int, key: bytes | None, value: bytes | None
    ) -> None:
        engine = self.engines.get(partition)
        if engine is None:
            engine = await self._recover(partition, offset)
        if offset < engine.position:
            return  # already reflected in state (re-delivery after a restart)
        await self._process_one(engine, partition, offset, key, value)

    async def _process_one(
        self,
        engine: EventTimeEngine,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
    ) -> None:
        topic = self.catalog.name("arrivals")
        try:
            event = decode(value, key, topic_role="arrivals")
        except ContractError as exc:
            engine.skip(offset)
            self.counters.inc("dlq", exc.code)
            self.counters.inc("events", "invalid")
            log.warning(
                "invalid input",
                code=exc.code,
                reason=exc.message,
                event_id=exc.event_id,
                partition=partition,
                offset=offset,
            )
            await self.outputs.send(
                "dlq",
                key,
                dlq_record(
                    exc.code,
                    exc.message,
                    exc.event_id,
                    value,
                    key,
                    topic,
                    partition,
                    offset,
                    utcnow(),
                ),
            )
        else:
            assert isinstance(event, DataArrival | DataWatermark)
            self.last_seen[event.dataset] = self.wall_clock()
            effects = engine.handle(event, partition, offset)
            self.counters.inc("events", event.type)
            await self._carry_out(effects, partition, key, value, offset)
        self.dirty.setdefault(partition, {})[engine.position_entry().key] = engine.position

    async def _carry_out(
        self,
        effects: list[Effect],
        partition: int,
        key: bytes | None,
        value: bytes | None,
        offset: int,
    ) -> None:
        dirty = self.dirty.setdefault(partition, {})
        for effect in effects:
            if isinstance(effect, StatePut):
                dirty[effect.key] = effect.value
            elif isinstance(effect, StateDelete):
                dirty[effect.key] = None
            elif isinstance(effect, WindowFired):
                m = effect.manifest
                self.counters.inc("windows_fired", m.dataset)
                log.info(
                    "window fired",
                    window_id=m.window_id,
                    revision=m.revision,
                    arrivals=len(m.arrivals),
                    record_total=m.record_total,
                )
                await self.outputs.send("windows", m.dataset.encode(), encode(m))
            elif isinstance(effect, TooLate):
                self.counters.inc("late", effect.event.dataset)
                log.info("too late", event_id=effect.event.event_id, window_id=effect.window_id)
                await self.outputs.send("late", effect.event.dataset.encode(), late_record(effect))
            elif isinstance(effect, Rejected):
                self.counters.inc("dlq", effect.code)
                log.warning(
                    "rejected", code=effect.code, event_id=effect.event_id, reason=effect.message
                )
                await self.outputs.send(
                    "dlq",
                    key,
                    dlq_record(
                        effect.code,
                        effect.message,
                        effect.event_id,
                        value,
                        key,
                        self.catalog.name("arrivals"),
                        partition,
                        offset,
                        utcnow(),
                    ),
                )
            elif isinstance(effect, Duplicate):
                self.counters.inc("duplicates", effect.dataset)
            elif isinstance(effect, Accepted):
                self.counters.inc("accepted", effect.dataset)
            elif isinstance(effect, WatermarkAdvanced):
                self.watermarks[effect.dataset] = effect.watermark_ms
            elif isinstance(effect, WindowDropped):
                self.counters.inc("windows_dropped", effect.dataset)

    # -- durability ---------------------------------------------------------------------------

    async def checkpoint(self) -> None:
        """Make state durable: wait for outputs, then write the changed keys of each partition."""
        async with self._lock:
            dirty, self.dirty = self.dirty, {}
            await self.outputs.flush()
            for partition, entries in dirty.items():
                for k, v in entries.items():
                    await self.outputs.send(
                        "eventtime_state",
                        k.encode(),
                        None if v is None else orjson.dumps(v),
                        partition=partition,
                    )
            await self.outputs.flush()

    async def _recover(self, partition: int, first_offset: int) -> EventTimeEngine:
        entries = await read_changelog(
            self.bootstrap, self.catalog.name("eventtime_state"), partition
        )
        engine = EventTimeEngine.restore(self.specs, entries.items())
        self.engines[partition] = engine
        restored_position = engine.position
        if engine.position < first_offset:
            gap = await read_range(
                self.bootstrap,
                self.catalog.name("arrivals"),
                partition,
                engine.position,
                first_offset,
            )
            for offset, key, value in gap:
                await self._process_one(engine, partition, offset, key, value)
        log.info(
            "partition recovered",
            partition=partition,
            state_keys=len(entries),
            position=restored_position,
            replayed=max(0, first_offset - restored_position),
        )
        return engine

    def revoke(self, partitions: set[int]) -> None:
        """Forget revoked partitions; their next owner rebuilds them from the changelog."""
        for p in partitions:
            self.engines.pop(p, None)

    def snapshot(self) -> dict[int, dict[str, Any]]:
        return {p: e.snapshot() for p, e in self.engines.items()}


async def read_changelog(bootstrap: str, topic: str, partition: int) -> dict[str, Any]:
    """The latest value per key of one changelog partition (tombstones remove keys)."""
    state: dict[str, Any] = {}
    for _, key, value in await read_range(bootstrap, topic, partition, 0, None):
        if key is None:
            continue
        k = key.decode()
        if value is None:
            state.pop(k, None)
        else:
            state[k] = orjson.loads(value)
    return state
