"""Durable per-partition state for a pure engine, without transactions.

- Outputs are produced first; the changelog is written only after those outputs are
  acknowledged, so state never runs ahead of what downstream has seen.
- The changelog holds the input position P (next offset reflected in state). On (re)assignment a
  partition is rebuilt from its changelog and input resumes at P: either the consumer is told to
  seek there (`restore`, the event-time ingest) or, if a consumer already resumed past P, the gap
  [P, o) is re-read from the input and re-processed (`process`, the Faust agents).
  Re-processing re-emits identical records: duplicates are possible, conflicting records are not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Generic, Protocol, TypeVar

import orjson
import structlog

from orchestrator.catalog.topics import Catalog
from orchestrator.core.effects import StatePut
from orchestrator.kafka.read import read_range, read_timed
from orchestrator.worker.outputs import Output, Outputs

log = structlog.get_logger("orchestrator.state")

#: changelog entries serialized between two yields to the loop (~1 ms of work)
CHECKPOINT_SLICE = 300


class InputRecord(Protocol):
    """What a batch record offers (aiokafka's ConsumerRecord has these)."""

    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def timestamp(self) -> int | None: ...


class Engine(Protocol):
    position: int

    def skip(self, offset: int) -> None: ...

    def position_entry(self) -> StatePut: ...


E = TypeVar("E", bound=Engine)


class PartitionedShell(Generic[E]):
    """Subclasses say how to restore an engine and how to process one record."""

    input_role: str
    state_role: str

    def __init__(self, catalog: Catalog, outputs: Outputs, bootstrap: str) -> None:
        self.catalog = catalog
        self.outputs = outputs
        self.bootstrap = bootstrap
        self.engines: dict[int, E] = {}
        self.dirty: dict[int, dict[str, object]] = {}
        #: next input offset handled per partition (for consumer lag)
        self.processed: dict[int, int] = {}
        #: partitions being rebuilt right now (not ready while non-empty)
        self.recovering: set[int] = set()
        #: one checkpoint at a time
        self._lock = asyncio.Lock()
        #: held while records are applied: a checkpoint takes the dirty entries only between
        #: records (or batches), so what it writes always matches the position it writes
        self._apply = asyncio.Lock()

    def restore_engine(self, entries: list[tuple[str, Any]]) -> E:
        raise NotImplementedError

    def apply(
        self,
        engine: E,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        timestamp_ms: int | None = None,
    ) -> list[Output]:
        """Handle one record without waiting: state goes to `put`, the output records it
        produces are returned (in order) for the caller to send. Shells driven in batches
        implement this; the others may implement `process_one` directly."""
        raise NotImplementedError

    def begin_batch(self) -> None:
        """Called before records are applied (a batch, or a single record)."""

    def end_batch(self) -> None:
        """Called after they were applied."""

    async def process_one(
        self,
        engine: E,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        timestamp_ms: int | None = None,
    ) -> None:
        self.begin_batch()
        outputs = self.apply(engine, partition, offset, key, value, timestamp_ms)
        self.end_batch()
        for role, k, v in outputs:
            await self.outputs.send(role, k, v)

    async def process(
        self,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        timestamp_ms: int | None = None,
    ) -> None:
        async with self._apply:
            engine = self.engines.get(partition)
            if engine is None:
                engine = await self._recover(partition, offset)
            if offset < engine.position:
                return  # already reflected in state (re-delivery after a restart)
            await self.process_one(engine, partition, offset, key, value, timestamp_ms)
            self.put(partition, engine.position_entry())
            self.processed[partition] = offset + 1

    async def process_batch(self, partition: int, records: Sequence[InputRecord]) -> int:
        """Records of one partition in offset order (aiokafka ConsumerRecords or alike): each
        handled by `apply` without an await, their outputs sent after the batch, one position
        entry per batch. Returns how many records were handled."""
        async with self._apply:
            engine = self.engines.get(partition)
            if engine is None:
                engine = await self._recover(partition, records[0].offset)
            position = engine.position
            apply = self.apply
            outputs: list[Output] = []
            handled = 0
            self.begin_batch()
            for r in records:
                if r.offset < position:
                    continue  # already reflected in state (re-delivery after a restart)
                outputs += apply(engine, partition, r.offset, r.key, r.value, r.timestamp)
                handled += 1
            self.end_batch()
            send = self.outputs.send
            for role, k, v in outputs:
                await send(role, k, v)
            if handled:
                self.put(partition, engine.position_entry())
                self.processed[partition] = engine.position
            return handled

    def put(self, partition: int, entry: StatePut | tuple[str, object | None]) -> None:
        key, value = (entry.key, entry.value) if isinstance(entry, StatePut) else entry
        self.dirty.setdefault(partition, {})[key] = value

    async def checkpoint(self) -> dict[int, int]:
        """Make state durable: wait for outputs, then write the changed keys of each partition.

        Returns the input position now durable for each partition written."""
        async with self._lock:
            async with self._apply:
                dirty, self.dirty = self.dirty, {}
                positions = {p: self.engines[p].position for p in dirty if p in self.engines}
            await self.outputs.flush()
            for partition, entries in dirty.items():
                # serialized lazily, yielding to the loop every CHECKPOINT_SLICE entries: a
                # checkpoint never holds the loop for long (`entries` is no longer written to)
                await self.outputs.send_many(
                    self.state_role,
                    partition,
                    (
                        (k.encode(), None if v is None else orjson.dumps(v))
                        for k, v in entries.items()
                    ),
                    yield_every=CHECKPOINT_SLICE,
                )
            await self.outputs.flush()
            return positions

    async def _recover(self, partition: int, first_offset: int | None) -> E:
        self.recovering.add(partition)
        try:
            return await self._rebuild(partition, first_offset)
        finally:
            self.recovering.discard(partition)

    async def restore(self, partition: int) -> E:
        """Eager recovery on assignment: the partition's engine from its changelog alone; the
        caller resumes its input at `engine.position`."""
        return await self._recover(partition, None)

    async def _rebuild(self, partition: int, first_offset: int | None) -> E:
        """The engine from the changelog; then, if the input already resumed at `first_offset`
        past the stored position, the gap re-read and re-processed."""
        entries = await read_changelog(
            self.bootstrap, self.catalog.name(self.state_role), partition
        )
        engine = self.restore_engine(list(entries.items()))
        self.engines[partition] = engine
        self.processed[partition] = engine.position
        restored = engine.position
        if first_offset is not None and engine.position < first_offset:
            gap = await read_timed(
                self.bootstrap,
                self.catalog.name(self.input_role),
                partition,
                engine.position,
                first_offset,
            )
            for offset, key, value, ts in gap:
                await self.process_one(engine, partition, offset, key, value, ts)
        log.info(
            "partition recovered",
            topic=self.catalog.name(self.input_role),
            partition=partition,
            state_keys=len(entries),
            position=restored,
            replayed=max(0, (first_offset or 0) - restored),
        )
        return engine

    def revoke(self, partitions: set[int]) -> None:
        """Forget revoked partitions; their next owner rebuilds them from the changelog."""
        for p in partitions:
            self.engines.pop(p, None)
            self.processed.pop(p, None)


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
