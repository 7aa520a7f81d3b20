"""An input's checkpoints: when one is due, and writing it (outputs acknowledged, then state,
then offsets: sink.py). Under at_least_once a checkpoint runs beside the loop, one at a time;
under exactly_once it commits the partitions' transactions between batches."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from orchestrator.pipeline.shell import Checkpoint, Shell
from orchestrator.worker.sink import AtLeastOnceSink, ExactlyOnceSink

log = structlog.get_logger("orchestrator.ingest")

#: a checkpoint is taken early once this much state is staged (one batch must hold it)
EARLY_CHECKPOINT_BYTES = 2 * 1024 * 1024


class Checkpoints:
    """Every method returns the partitions a checkpoint found lost: fenced by a successor,
    nothing of theirs written (the input forgets them)."""

    def __init__(
        self,
        name: str,
        shell: Shell[Any],
        sink: AtLeastOnceSink | ExactlyOnceSink,
        interval_s: float,
        on_written: Callable[[], None],
    ) -> None:
        self.name = name
        self.shell = shell
        self.sink = sink
        self.interval_s = interval_s
        #: told when a checkpoint that wrote something got through (the broker is back)
        self.on_written = on_written
        #: the input's consumer (its offsets are committed here under at_least_once)
        self.consumer: Any = None
        #: the checkpoint running beside the loop (at_least_once)
        self.running: asyncio.Task[set[TopicPartition]] | None = None
        self._last = time.monotonic()
        #: at_least_once: each partition's durable position (in its changelog, or handled and
        #: acknowledged for a stateless input) and the offset last committed for it. A commit
        #: that fails (a rebalance, the coordinator away) is tried again at the next
        #: checkpoint even when nothing changed since: lag tools and successors see the truth
        self.durable: dict[TopicPartition, int] = {}
        self.committed: dict[TopicPartition, int] = {}

    def restart(self) -> None:
        """The state was just rebuilt: the next checkpoint is an interval away."""
        self._last = time.monotonic()

    def restored(self, tp: TopicPartition, position: int) -> None:
        """`tp` was just rebuilt at `position` (durable: it was read back from the broker)."""
        self.durable[tp] = position
        self.committed.pop(tp, None)

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        """Partitions no longer ours: their offsets are not ours to commit any more."""
        for tp in tps:
            self.durable.pop(tp, None)
            self.committed.pop(tp, None)

    def uncommitted(self) -> dict[TopicPartition, int]:
        """Durable positions not yet committed as the partitions' offsets."""
        committed = self.committed
        return {tp: p for tp, p in self.durable.items() if committed.get(tp) != p}

    def due(self) -> bool:
        return (
            time.monotonic() - self._last >= self.interval_s
            or self.shell.dirty_size() >= EARLY_CHECKPOINT_BYTES
        )

    def finished(self) -> set[TopicPartition]:
        """The result of the running checkpoint once it is done (a failed one raises: the
        loop's recovery follows)."""
        task = self.running
        if task is None or not task.done():
            return set()
        self.running = None
        return task.result()

    def start(self) -> None:
        """A checkpoint beside the loop, taken now: between batches, with every output of
        them already handed to the sink."""
        self.running = asyncio.create_task(self._write(*self._take()))

    async def now(self) -> set[TopicPartition]:
        """Wait for a running checkpoint, then take and write one (the caller holds the
        input's lock)."""
        lost: set[TopicPartition] = set()
        if self.running is not None:
            task, self.running = self.running, None
            lost |= await task
        return lost | await self._write(*self._take())

    async def cancel(self) -> None:
        """The broker failed: the running checkpoint is abandoned (its state is re-derived)."""
        task, self.running = self.running, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):  # abandoned: whatever it raised
                await task

    def _take(self) -> tuple[list[Checkpoint], list[asyncio.Future[Any]]]:
        self._last = time.monotonic()
        return self.shell.take_checkpoint(), self.sink.take_pending()

    async def _write(
        self, cps: list[Checkpoint], pending: list[asyncio.Future[Any]]
    ) -> set[TopicPartition]:
        lost = await self.sink.checkpoint(cps, pending)
        if cps or pending:
            self.on_written()
        if not self.sink.exactly_once:
            engines = self.shell.engines
            for cp in cps:
                if cp.tp not in lost and cp.tp in engines:  # not dropped meanwhile
                    self.durable[cp.tp] = cp.position
            self.forget(lost)
            await self._commit()
        return lost

    async def _commit(self) -> None:
        """Commit every durable position not committed yet (of the partitions assigned)."""
        assigned = self.consumer.assignment()
        offsets = {tp: o for tp, o in self.uncommitted().items() if tp in assigned}
        if not offsets:
            return
        try:
            # aiokafka retries a commit for as long as the coordinator is away: bound it
            await asyncio.wait_for(self.consumer.commit(offsets), self.sink.timeout_s)
        except (KafkaError, TimeoutError) as exc:  # the changelog is what counts
            log.info("offset commit deferred", input=self.name, reason=repr(exc))
            return
        self.committed.update(offsets)


class SnapshotSchedule:
    """A stateful partition's whole state goes to the snapshot topic every `interval_s` (the
    first time an interval after the partition was assigned; 0: never)."""

    #: a snapshot is cut into records of about this size
    part_bytes = 1024 * 1024

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last: dict[TopicPartition, float] = {}

    def due(self, tp: TopicPartition) -> bool:
        if not self.interval_s:
            return False
        now = time.monotonic()
        last = self._last.setdefault(tp, now)
        if now - last < self.interval_s:
            return False
        self._last[tp] = now
        return True

    def forget(self, tp: TopicPartition) -> None:
        self._last.pop(tp, None)
