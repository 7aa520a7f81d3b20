"""The event-time input path: a plain aiokafka consumer on the worker's loop, fed in batches.

`data.arrivals` is the high-volume input. A Faust agent hands each record over from Faust's
consumer thread and wraps it in a stream event, which cost ~100 µs per event in the profile
(bench/README.md), several times the pure core. Here the worker drives the arrivals partitions
itself, in the same process and loop as its Faust agents:

- one consumer in its own group (`<app_id>-eventtime`), no auto commit;
- on assignment each partition is rebuilt from its changelog and the consumer seeks to the
  position P stored there (state and input position always agree; nothing is re-read twice);
- records are handled a batch per partition at a time: one await per batch instead of several
  per record, one changelog position entry per batch;
- a checkpoint (outputs acknowledged, then the changelog) runs beside the loop on a timer, and
  afterwards the durable positions are committed (for lag tools; the changelog is authoritative);
- on revocation the loop is paused at a batch boundary, the partition's state is checkpointed and
  committed, then forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from orchestrator.worker.eventtime import EventTimeShell

log = structlog.get_logger("orchestrator.ingest")

#: records taken per poll. aiokafka builds a poll's records in one go (several µs each, without
#: yielding), so this bounds how long the loop is held before the first record is handled
MAX_BATCH = 400
#: records handled between two yields to the loop (~2 ms of work): bounds how long a decision
#: waits for the producer and a checkpoint waits for a batch boundary
CHUNK = 50
POLL_TIMEOUT_MS = 200


class ArrivalsIngest(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(
        self,
        shell: EventTimeShell,
        bootstrap: str,
        topic: str,
        group_id: str,
        *,
        on_assigned: Callable[[], None],
        on_failure: Callable[[BaseException], Awaitable[None]],
    ) -> None:
        self.shell = shell
        self.bootstrap = bootstrap
        self.topic = topic
        self.group_id = group_id
        self.on_assigned = on_assigned
        self.on_failure = on_failure
        self.consumer: AIOKafkaConsumer | None = None
        #: held while a batch is handled and while partitions change hands
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.failed: BaseException | None = None

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group_id,
            client_id="orchestrator-eventtime",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=MAX_BATCH,
            # bounded fetch buffers: memory does not depend on how far behind the worker is
            fetch_max_bytes=4 * 1024 * 1024,
            max_partition_fetch_bytes=1024 * 1024,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
            rebalance_timeout_ms=20_000,
        )
        await self.consumer.start()
        self.consumer.subscribe([self.topic], listener=self)
        self._task = asyncio.create_task(self._run(), name="eventtime-ingest")

    # -- the loop ----------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self.consumer is not None
        consumer = self.consumer
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS, max_records=MAX_BATCH)
                if not batch:
                    continue
                async with self._lock:
                    assigned = consumer.assignment()
                    for tp, records in batch.items():
                        if tp not in assigned or not records:
                            continue  # revoked while this batch was in flight
                        for i in range(0, len(records), CHUNK):
                            await self.shell.process_batch(tp.partition, records[i : i + CHUNK])
                            # let the producer, the checkpoint and the web server run
                            await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in the shell: stop the worker, say why
            self.failed = exc
            log.exception("event-time ingest stopped", error=repr(exc))
            await self.on_failure(exc)

    # -- durability ------------------------------------------------------------------------

    async def checkpoint(self) -> None:
        """Checkpoint the shell, then commit the positions its changelog now holds."""
        positions = await self.shell.checkpoint()
        await self._commit(positions)

    async def _commit(self, positions: dict[int, int]) -> None:
        if not positions or self.consumer is None:
            return
        assigned = self.consumer.assignment()
        offsets = {
            tp: pos
            for p, pos in positions.items()
            if (tp := TopicPartition(self.topic, p)) in assigned
        }
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:  # e.g. a rebalance in progress; the changelog is what counts
            log.info("offset commit skipped", reason=repr(exc))

    # -- rebalance listener (aiokafka awaits these during a rebalance) ------------------------

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._lock:
            await self.checkpoint()
            self.shell.revoke({tp.partition for tp in revoked if tp.topic == self.topic})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        assert self.consumer is not None
        async with self._lock:
            for tp in sorted(assigned):
                if tp.topic != self.topic:
                    continue
                engine = self.shell.engines.get(tp.partition)
                if engine is None:
                    engine = await self.shell.restore(tp.partition)
                self.consumer.seek(tp, engine.position)
        self.on_assigned()

    # -- lag ---------------------------------------------------------------------------------

    def lag(self) -> dict[int, int]:
        """Records behind the high watermark, per assigned partition (as the consumer knows it)."""
        out: dict[int, int] = {}
        if self.consumer is None:
            return out
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            position = self.shell.processed.get(tp.partition)
            if high is not None and position is not None:
                out[tp.partition] = max(0, high - position)
        return out

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.consumer is not None:
            async with self._lock:
                await self.checkpoint()
            await self.consumer.stop()  # leaves the group: a successor gets the partitions now
