"""Durable per-partition state for a pure engine, without transactions.

- Outputs are produced first; the changelog is written only after those outputs are
  acknowledged, so state never runs ahead of what downstream has seen.
- The changelog holds the input position P (next offset reflected in state). On (re)assignment a
  partition is rebuilt from its changelog and, if the consumer resumes past P, the gap [P, o) is
  re-read from the input and re-processed. Re-processing re-emits identical records: duplicates
  are possible, conflicting records are not.
"""

from __future__ import annotations

import asyncio
from typing import Any, Generic, Protocol, TypeVar

import orjson
import structlog

from orchestrator.catalog.topics import Catalog
from orchestrator.core.effects import StatePut
from orchestrator.kafka.read import read_range, read_timed
from orchestrator.worker.outputs import Outputs

log = structlog.get_logger("orchestrator.state")


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
        self._lock = asyncio.Lock()

    def restore_engine(self, entries: list[tuple[str, Any]]) -> E:
        raise NotImplementedError

    async def process_one(
        self,
        engine: E,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        timestamp_ms: int | None = None,
    ) -> None:
        raise NotImplementedError

    async def process(
        self,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        timestamp_ms: int | None = None,
    ) -> None:
        engine = self.engines.get(partition)
        if engine is None:
            engine = await self._recover(partition, offset)
        if offset < engine.position:
            return  # already reflected in state (re-delivery after a restart)
        await self.process_one(engine, partition, offset, key, value, timestamp_ms)
        self.put(partition, engine.position_entry())
        self.processed[partition] = offset + 1

    def put(self, partition: int, entry: StatePut | tuple[str, object | None]) -> None:
        key, value = (entry.key, entry.value) if isinstance(entry, StatePut) else entry
        self.dirty.setdefault(partition, {})[key] = value

    async def checkpoint(self) -> None:
        """Make state durable: wait for outputs, then write the changed keys of each partition."""
        async with self._lock:
            dirty, self.dirty = self.dirty, {}
            await self.outputs.flush()
            for partition, entries in dirty.items():
                for k, v in entries.items():
                    await self.outputs.send(
                        self.state_role,
                        k.encode(),
                        None if v is None else orjson.dumps(v),
                        partition=partition,
                    )
            await self.outputs.flush()

    async def _recover(self, partition: int, first_offset: int) -> E:
        self.recovering.add(partition)
        try:
            return await self._rebuild(partition, first_offset)
        finally:
            self.recovering.discard(partition)

    async def _rebuild(self, partition: int, first_offset: int) -> E:
        entries = await read_changelog(
            self.bootstrap, self.catalog.name(self.state_role), partition
        )
        engine = self.restore_engine(list(entries.items()))
        self.engines[partition] = engine
        restored = engine.position
        if engine.position < first_offset:
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
            replayed=max(0, first_offset - restored),
        )
        return engine

    def revoke(self, partitions: set[int]) -> None:
        """Forget revoked partitions; their next owner rebuilds them from the changelog."""
        for p in partitions:
            self.engines.pop(p, None)


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
