"""One input of the worker: a consumer in its own group, the shell that handles its records,
and the sink that writes what they produce. The worker runs three (arrivals, models.log, and
the router's updates and commands), all on its event loop.

- On assignment each partition is rebuilt from its changelog and the consumer seeks to the
  position P stored there (a stateless input resumes at its committed offset).
- Records are handled a batch per partition at a time: `apply_batch` without awaiting, then
  its outputs are handed to the sink.
- Checkpoints: outputs acknowledged, then state, then offsets (sink.py). Under at_least_once
  a checkpoint runs beside the loop; under exactly_once it commits the partition's
  transaction, between batches.
- Failure of the broker (or of anything the sink awaits) never reaches the changelog: the
  state that was not checkpointed is thrown away, the worker reports itself not ready and
  retries with backoff, and once the broker answers it rebuilds every partition from its
  changelog and re-reads from the durable position. Outputs are then sent again: duplicates
  under at_least_once, none under exactly_once, never a gap. After `max_outage_s` it gives up
  and the process exits without writing anything more.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import (
    KafkaError,
)

from orchestrator.kafka.clients import Connection
from orchestrator.pipeline.shell import Shell
from orchestrator.worker.checkpoints import Checkpoints, SnapshotSchedule
from orchestrator.worker.lag import Lag
from orchestrator.worker.recovery import (
    TOO_LARGE,
    Outage,
    RecordRefused,
    broker_error,
    read_changelog,
    stable_committed,
    until_reset,
)
from orchestrator.worker.sink import FENCED, AtLeastOnceSink, ExactlyOnceSink

log = structlog.get_logger("orchestrator.ingest")


def utcnow() -> datetime:
    """The wall clock a batch is handled at (the pipeline itself has none)."""
    return datetime.now(UTC)


#: records taken per poll. aiokafka builds a poll's records in one go (several µs each, without
#: yielding), so this bounds how long the loop is held before the first record is handled
MAX_BATCH = 400
#: records handled between two yields to the loop (~2 ms of work): bounds how long a decision
#: waits for the producer and a checkpoint waits for a batch boundary
CHUNK = 50
POLL_TIMEOUT_MS = 200


class Ingest(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(
        self,
        name: str,
        shell: Shell[Any],
        sink: AtLeastOnceSink | ExactlyOnceSink,
        conn: Connection,
        topics: list[str],
        group_id: str,
        *,
        state_topic: str | None,
        checkpoint_interval_s: float,
        max_outage_s: float,
        session_timeout_ms: int = 10_000,
        fetch_max_wait_ms: int = 500,
        on_fatal: Callable[[BaseException], Awaitable[None]],
        metrics: Any = None,
        snapshot_interval_s: float = 0.0,
    ) -> None:
        self.name = name
        self.shell = shell
        self.sink = sink
        self.conn = conn
        self.topics = topics
        self.group_id = group_id
        self.state_topic = state_topic
        self.max_outage_s = max_outage_s
        self.session_timeout_ms = session_timeout_ms
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.on_fatal = on_fatal
        self.metrics = metrics
        self.snapshots = SnapshotSchedule(snapshot_interval_s if shell.stateful else 0.0)
        self.consumer: Any = None
        #: held while a batch is handled and while partitions change hands
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.checkpoints = Checkpoints(name, shell, sink, checkpoint_interval_s, self._written)
        #: partitions being rebuilt right now (not ready while non-empty)
        self.recovering: set[TopicPartition] = set()
        self.assigned_once = False
        #: why the ingest is not working right now (None: it is)
        self.degraded: str | None = None
        self.failed: BaseException | None = None
        #: a failure met outside the loop (in a rebalance callback) for the loop to recover from
        self._reset_needed: BaseException | None = None
        self._lag = Lag()
        #: since when the broker has been failing (monotonic s): reset only once a checkpoint
        #: that wrote something succeeds, so a failure that recurs after every recovery still
        #: ends the worker after max_outage_s
        self._failing_since: float | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self.consumer = self.conn.consumer(
            group_id=self.group_id,
            client_id=f"orchestrator-{self.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=MAX_BATCH,
            # bounded fetch buffers: memory does not depend on how far behind the worker is
            fetch_max_bytes=4 * 1024 * 1024,
            max_partition_fetch_bytes=1024 * 1024,
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=max(1000, self.session_timeout_ms // 5),
            rebalance_timeout_ms=2 * self.session_timeout_ms,
        )
        await self.sink.start()
        await self.consumer.start()
        self.checkpoints.consumer = self.consumer
        self.consumer.subscribe(self.topics, listener=self)
        self._task = asyncio.create_task(self._run(), name=f"ingest-{self.name}")

    async def stop(self) -> None:
        """Clean stop: the last checkpoint (if the broker takes it), then leave the group."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.consumer is None:
            return
        async with self._lock:
            if self.failed is None and self.degraded is None:
                try:
                    await asyncio.wait_for(self.checkpoints.now(), 2 * self.sink.timeout_s)
                except (Exception, TimeoutError) as exc:  # nothing more is written
                    log.warning("final checkpoint failed", input=self.name, error=repr(exc))
        await self.sink.stop()
        with contextlib.suppress(Exception, TimeoutError):
            # leaves the group: a successor gets the partitions now
            await asyncio.wait_for(self.consumer.stop(), 2 * self.sink.timeout_s)

    # -- the loop ----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except TOO_LARGE as exc:
                await self._fatal(RecordRefused.of(exc))
                return
            except (KafkaError, OSError, TimeoutError) as exc:
                try:
                    await self._recover(exc)
                except Outage as outage:
                    await self._fatal(outage)
                    return
            except Exception as exc:  # a bug outside any one record: stop the worker
                await self._fatal(exc)
                return

    async def _fatal(self, exc: BaseException) -> None:
        self.failed = exc
        log.error("ingest stopped", input=self.name, error=repr(exc))
        await self.on_fatal(exc)

    async def _consume(self) -> None:
        consumer = self.consumer
        while True:
            if self._reset_needed is not None:
                exc, self._reset_needed = self._reset_needed, None
                raise exc
            batch = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS, max_records=MAX_BATCH)
            self._lag.note_idle(consumer, batch)
            if batch:
                await self._handle(batch)
            await self._maybe_checkpoint()

    async def _handle(self, batch: dict[TopicPartition, list[Any]]) -> None:
        async with self._lock:
            engines = self.shell.engines
            for tp, records in batch.items():
                if tp not in engines or not records:
                    continue  # revoked while this batch was in flight
                for i in range(0, len(records), CHUNK):
                    chunk = records[i : i + CHUNK]
                    outputs = self.shell.apply_batch(tp, chunk, utcnow())
                    if self.snapshots.due(tp):
                        outputs += self.shell.snapshot(
                            tp, chunk[-1].timestamp, utcnow(), self.snapshots.part_bytes
                        )
                    if outputs:
                        try:
                            await self.sink.send(tp, outputs)
                        except FENCED:  # a successor holds the partition now
                            await self._lose({tp})
                            break
                    # let the producer, the checkpoint and the web server run
                    await asyncio.sleep(0)
                    if tp not in engines:
                        break

    # -- checkpoints -------------------------------------------------------------------------

    async def _maybe_checkpoint(self) -> None:
        lost = self.checkpoints.finished()
        if lost:
            async with self._lock:
                await self._lose(lost)
        if not self.checkpoints.due():
            return
        if self.sink.exactly_once:
            async with self._lock:
                await self._lose(await self.checkpoints.now())
        elif self.checkpoints.running is None:
            self.checkpoints.start()
        else:  # back-pressure: one checkpoint at a time
            await asyncio.shield(self.checkpoints.running)

    async def _lose(self, lost: set[TopicPartition]) -> None:
        """Partitions another worker holds now (our producer for them was fenced): forget them
        without writing anything more, and rejoin the group (the caller holds the lock)."""
        lost = {tp for tp in lost if tp in self.shell.engines}
        if not lost:
            return
        log.warning(
            "partitions lost to another worker: their state is not written from here",
            input=self.name,
            partitions=sorted(f"{tp.topic}[{tp.partition}]" for tp in lost),
        )
        await self._drop(lost)
        with contextlib.suppress(Exception):  # aiokafka internals: the heartbeat would too
            self.consumer._coordinator.request_rejoin()

    async def _drop(self, tps: set[TopicPartition]) -> None:
        """Partitions no longer ours: their producers closed, their engines and figures gone."""
        self.checkpoints.forget(tps)
        for tp in tps:
            await self.sink.close(tp)
            self.snapshots.forget(tp)
            self._lag.forget(tp)
        self.shell.forget(tps)
        if self.metrics is not None:
            self.metrics.forget_partitions(tps)

    # -- failure -----------------------------------------------------------------------------

    def _written(self) -> None:
        """A checkpoint that wrote something got through: the broker took what was asked."""
        self._failing_since = None

    async def _recover(self, exc: BaseException) -> None:
        """Throw away what was not checkpointed, wait for the broker, rebuild, re-read."""
        self.degraded = broker_error(exc)
        log.warning(
            "broker unavailable; state since the last checkpoint is re-derived",
            input=self.name,
            error=self.degraded,
        )
        if self.metrics is not None:
            self.metrics.broker_errors.labels(self.name).inc()
        await self.checkpoints.cancel()
        if self._failing_since is None:
            self._failing_since = time.monotonic()
        started = self._failing_since
        failing = time.monotonic() - started
        if self.max_outage_s and failing > self.max_outage_s:
            # it recovers, then fails again, and no checkpoint got through in between
            raise Outage(
                f"broker failing for {failing:.0f} s, every recovery since: {self.degraded}"
            )

        async def reset() -> None:
            async with self._lock:
                await self._reset()

        def note(error: str) -> None:
            self.degraded = error

        await until_reset(
            reset,
            name=self.name,
            started=started,
            max_outage_s=self.max_outage_s,
            error=self.degraded,
            note=note,
        )
        log.info(
            "recovered from broker failure",
            input=self.name,
            waited_s=round(time.monotonic() - started, 1),
        )
        self.degraded = None

    async def _reset(self) -> None:
        """Every assigned partition from its durable state, the sink anew (the lock is held)."""
        self.checkpoints.forget(list(self.checkpoints.durable))
        self.shell.forget(list(self.shell.engines))
        await self.sink.discard()
        await self.sink.start()
        for tp in sorted(self.consumer.assignment()):
            await self._restore(tp)
        self.checkpoints.restart()

    async def _restore(self, tp: TopicPartition) -> None:
        """Rebuild `tp` (from its changelog, or its committed offset) and seek there."""
        self.recovering.add(tp)
        self._lag.forget(tp)
        try:
            await self.sink.open(tp)
            bound = 4 * self.sink.timeout_s
            if self.state_topic is None:
                committed = await asyncio.wait_for(
                    stable_committed(self.consumer, tp, self.sink.exactly_once), bound
                )
                engine = self.shell.start(tp, committed or 0)
            else:
                entries = await asyncio.wait_for(
                    read_changelog(self.conn, self.state_topic, tp.partition), bound * 10
                )
                engine = self.shell.restore(tp, entries)
                log.info(
                    "partition recovered",
                    input=self.name,
                    topic=tp.topic,
                    partition=tp.partition,
                    state_keys=len(entries),
                    position=engine.position,
                )
            self.consumer.seek(tp, engine.position)
            self.checkpoints.restored(tp, engine.position)
        finally:
            self.recovering.discard(tp)

    # -- rebalance listener (aiokafka awaits these during a rebalance) ------------------------

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._lock:
            if self.degraded is None and self.failed is None:
                try:
                    lost = await self.checkpoints.now()
                except (KafkaError, OSError, TimeoutError) as exc:
                    log.warning("checkpoint on revocation failed", input=self.name, error=repr(exc))
                else:
                    await self._lose(lost)  # fenced on the way out: said, not written
            await self._drop(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        async with self._lock:
            try:
                for tp in sorted(assigned):
                    if tp not in self.shell.engines:
                        await self._restore(tp)
            except (KafkaError, OSError, TimeoutError) as exc:
                # leave the partition without an engine: its records are not handled, and the
                # loop's recovery rebuilds every assigned partition
                self.degraded = f"broker: {type(exc).__name__}: {exc}"[:300]
                log.warning("partition restore failed", input=self.name, error=repr(exc))
                self.shell.forget(assigned)
                self._reset_needed = exc
        self.assigned_once = True

    # -- observability -----------------------------------------------------------------------

    def lag(self) -> dict[TopicPartition, int]:
        return self._lag.of(self.consumer, self.shell)

    def readiness(self) -> dict[str, Any]:
        return {
            "assigned": self.assigned_once,
            "recovering": sorted(f"{tp.topic}[{tp.partition}]" for tp in self.recovering),
            "degraded": self.degraded,
            "failed": repr(self.failed) if self.failed else None,
        }

    @property
    def ready(self) -> bool:
        return (
            self.assigned_once
            and not self.recovering
            and self.degraded is None
            and self.failed is None
        )
