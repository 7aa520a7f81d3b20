"""Where a shell's output records and checkpoints go, under each processing guarantee.

`at_least_once` (one idempotent producer per input): outputs are sent as they are made; a
checkpoint first waits until every output sent before it is acknowledged, then writes each
partition's changed state as ONE record batch with the input position last (a batch is
appended whole or not at all, so a crash never leaves half a checkpoint), then its deletes,
and the ingest commits the offsets afterwards (for lag tools; the changelog is authoritative).
After a crash, outputs sent since the last checkpoint are sent again: duplicates, never
conflicts and never a gap. Where the broker has transactions (Apache Kafka), each partition's
state is written by a transactional producer of its own (`<app_id>.state.<topic>.<partition>`),
one committed transaction per checkpoint: the worker that takes a partition over starts that
producer and so fences its predecessor. A frozen worker that wakes up after losing its
partitions cannot write their state (its transaction is refused), and the next rebuild never
mixes generations. What such a worker sends before it notices is a duplicate of what its
successor derives from the same records.

`exactly_once` (Apache Kafka only): one transactional producer per input partition, with a
transactional id derived from the app id and the partition, so that a successor fences a
stalled predecessor. A checkpoint writes the changelog, adds the input offsets with
`send_offsets_to_transaction` and commits: outputs, state and position become visible
together, and a `read_committed` reader sees every output once.

Any failure to send or to be acknowledged raises; the ingest then throws away the state
that was not checkpointed and rebuilds from the changelog (ingest.py). A fenced producer is
not a broker failure: its partition was given to another worker, and the checkpoint returns
it as lost (the ingest forgets it and rejoins its group).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import InvalidProducerEpoch, ProducerFenced, TransactionCoordinatorFenced
from aiokafka.producer.message_accumulator import BatchBuilder

from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.roles import Role
from orchestrator.kafka.clients import Connection
from orchestrator.pipeline.records import Output
from orchestrator.pipeline.shell import Checkpoint

log = structlog.get_logger("orchestrator.sink")

#: Output records are batched up to this size (they are small; a dlq envelope may be larger and
#: then travels in a batch of its own).
OUTPUT_BATCH_BYTES = 256 * 1024
#: The largest single output record (the dlq topic takes 2 MiB, an envelope is cut to fit).
MAX_REQUEST_BYTES = 16 * 1024 * 1024
#: A producer that does not stop within this after a failure is abandoned.
STOP_TIMEOUT_S = 5.0
#: what a transactional producer raises once a successor with its id has started
FENCED = (ProducerFenced, InvalidProducerEpoch, TransactionCoordinatorFenced)


class Sink:
    """The common part: topic names by role, the changelog topic, producer settings."""

    exactly_once = False

    def __init__(
        self,
        conn: Connection,
        catalog: Catalog,
        state_role: Role | None,
        *,
        client_id: str,
        request_timeout_ms: int,
        linger_ms: int = 1,
        on_split: Any = None,
    ) -> None:
        self.conn = conn
        self.linger_ms = linger_ms
        self.names: dict[Role, str] = {spec.role: spec.name for spec in catalog}
        self.state_topic = catalog.name(state_role) if state_role else None
        self.state_limit = catalog.specs[state_role].message_limit if state_role else 0
        self.client_id = client_id
        self.request_timeout_ms = request_timeout_ms
        #: a broker call that takes longer has failed (aiokafka retries some calls for ever)
        self.timeout_s = request_timeout_ms / 1000
        self.on_split = on_split or (lambda n: None)

    def _producer(self, **kw: Any) -> AIOKafkaProducer:
        return self.conn.producer(
            acks="all",
            linger_ms=self.linger_ms,
            max_batch_size=OUTPUT_BATCH_BYTES,
            max_request_size=MAX_REQUEST_BYTES,
            request_timeout_ms=self.request_timeout_ms,
            client_id=self.client_id,
            **kw,
        )

    async def _transactional(self, transactional_id: str) -> AIOKafkaProducer:
        """A started transactional producer: starting it fences every earlier holder of
        `transactional_id` (and aborts its open transaction)."""
        producer = self._producer(transactional_id=transactional_id)
        try:
            await asyncio.wait_for(producer.start(), 2 * self.timeout_s)
        except BaseException:
            await _kill(producer)
            raise
        return producer

    async def _send_outputs(
        self, producer: AIOKafkaProducer, outputs: Sequence[Output]
    ) -> list[asyncio.Future[Any]]:
        names = self.names
        send = producer.send
        return [await send(names[o.role], o.value, key=o.key) for o in outputs]

    def _batches(
        self, records: Iterable[tuple[bytes, bytes | None]], transactional: bool
    ) -> list[BatchBuilder]:
        """Record batches of at most the changelog topic's message size. One, unless the state
        of one checkpoint outgrew it (then it is written in several, and said so)."""
        batches = [BatchBuilder(self.state_limit, 0, is_transactional=transactional)]
        for key, value in records:
            if batches[-1].append(timestamp=None, key=key, value=value) is None:
                batches.append(BatchBuilder(self.state_limit, 0, is_transactional=transactional))
                batches[-1].append(timestamp=None, key=key, value=value)
        return [b for b in batches if b.record_count()]

    async def _write_state(
        self, producer: AIOKafkaProducer, cps: Sequence[Checkpoint], transactional: bool
    ) -> None:
        """Each partition's puts as one batch (acknowledged), then its deletes."""
        assert self.state_topic is not None
        topic = self.state_topic
        pending = []
        for cp in cps:
            if not cp.puts:
                continue
            batches = self._batches(cp.puts, transactional)
            if len(batches) > 1:
                log.error(
                    "checkpoint larger than one record batch: written in several",
                    topic=topic,
                    partition=cp.tp.partition,
                    batches=len(batches),
                    limit=self.state_limit,
                )
                self.on_split(len(batches))
            for batch in batches:
                pending.append(  # noqa: PERF401 - each send is awaited in order
                    await producer.send_batch(batch, topic, partition=cp.tp.partition)
                )
        await _all(pending)
        pending = []
        for cp in cps:
            for batch in self._batches(((k, None) for k in cp.deletes), transactional):
                pending.append(await producer.send_batch(batch, topic, partition=cp.tp.partition))
        await _all(pending)


async def _all(futures: Sequence[asyncio.Future[Any]]) -> None:
    """Wait for every future; raise the first failure (after all of them settled)."""
    if not futures:
        return
    results = await asyncio.gather(*futures, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r


async def _stop(producer: AIOKafkaProducer | None) -> None:
    """Clean stop: what is in flight is delivered first (for at most STOP_TIMEOUT_S)."""
    if producer is None:
        return
    try:
        await asyncio.wait_for(producer.stop(), STOP_TIMEOUT_S)
    except (TimeoutError, Exception) as exc:  # a broken producer: make sure it is dead
        log.info("producer did not stop cleanly", reason=repr(exc))
        await _kill(producer)


async def _kill(producer: AIOKafkaProducer | None) -> None:
    """Stop a producer without delivering what it still holds: after a failure nothing it
    held may reach the broker later (a late changelog write would mix generations)."""
    if producer is None:
        return
    producer._closed = True
    with contextlib.suppress(BaseException):  # cancels the sender: pending batches fail here
        await asyncio.wait_for(producer._sender.close(), STOP_TIMEOUT_S)
    with contextlib.suppress(BaseException):
        await asyncio.wait_for(producer.client.close(), STOP_TIMEOUT_S)


class AtLeastOnceSink(Sink):
    def __init__(
        self, *args: Any, idempotent: bool, fence_state: bool = False, app_id: str = "", **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        self.idempotent = idempotent
        #: state written by one transactional producer per partition (fences a predecessor)
        self.fence_state = fence_state and self.state_topic is not None
        self.app_id = app_id
        self.producer: AIOKafkaProducer | None = None
        self.state_producers: dict[TopicPartition, AIOKafkaProducer] = {}
        self._pending: list[asyncio.Future[Any]] = []

    def transactional_id(self, tp: TopicPartition) -> str:
        return f"{self.app_id}.state.{tp.topic}.{tp.partition}"

    async def start(self) -> None:
        if self.producer is None:
            producer = self._producer(enable_idempotence=self.idempotent)
            await producer.start()
            self.producer = producer

    async def stop(self) -> None:
        """Clean stop: everything sent is acknowledged first (for at most the time-out)."""
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(_all(self.take_pending()), self.timeout_s)
        await _stop(self.producer)
        self.producer = None
        for tp in list(self.state_producers):
            await self.close(tp)

    async def discard(self) -> None:
        """After a failure: forget what is in flight, and the producers with it."""
        self._pending = []
        producer, self.producer = self.producer, None
        states, self.state_producers = self.state_producers, {}
        await asyncio.gather(_kill(producer), *(_kill(p) for p in states.values()))

    async def open(self, tp: TopicPartition) -> None:
        """With fenced state: the partition's state producer; starting it fences whichever
        worker held the partition before (its next checkpoint of it is refused)."""
        if not self.fence_state or tp in self.state_producers:
            return
        self.state_producers[tp] = await self._transactional(self.transactional_id(tp))

    async def close(self, tp: TopicPartition) -> None:
        await _stop(self.state_producers.pop(tp, None))

    async def send(self, tp: TopicPartition, outputs: Sequence[Output]) -> None:
        assert self.producer is not None
        self._pending += await self._send_outputs(self.producer, outputs)

    def take_pending(self) -> list[asyncio.Future[Any]]:
        """The acknowledgements of every output sent so far (a checkpoint waits for these)."""
        pending, self._pending = self._pending, []
        return pending

    async def checkpoint(
        self, cps: Sequence[Checkpoint], pending: Sequence[asyncio.Future[Any]]
    ) -> set[TopicPartition]:
        """Outputs first, then state: `pending` are the outputs this checkpoint accounts for.
        An idempotent producer retries a send for as long as the broker is away: a checkpoint
        that waits longer than twice the request time-out has failed. Returns the partitions
        found lost (their state producer fenced by a successor): nothing of theirs written."""
        await asyncio.wait_for(_all(pending), 2 * self.timeout_s)
        if self.state_topic is None or not cps:
            return set()
        if not self.fence_state:
            assert self.producer is not None
            await asyncio.wait_for(
                self._write_state(self.producer, cps, transactional=False), 2 * self.timeout_s
            )
            return set()
        # each partition's transaction is its own producer's: they commit side by side (one
        # round trip for all, not one per partition in turn); every one ends before a failure
        # is raised, so that none is still in a transaction when the caller retries
        found = await asyncio.gather(
            *(self._commit_state(cp) for cp in cps), return_exceptions=True
        )
        for result in found:
            if isinstance(result, BaseException):
                raise result
        return {tp for tp in found if isinstance(tp, TopicPartition)}

    async def _commit_state(self, cp: Checkpoint) -> TopicPartition | None:
        """One partition's state in one transaction of its producer; its partition if lost."""
        producer = self.state_producers.get(cp.tp)
        if producer is None:
            return cp.tp
        try:
            await asyncio.wait_for(producer.begin_transaction(), self.timeout_s)
            await asyncio.wait_for(
                self._write_state(producer, [cp], transactional=True), 2 * self.timeout_s
            )
            await asyncio.wait_for(producer.commit_transaction(), self.timeout_s)
        except FENCED:
            await _kill(self.state_producers.pop(cp.tp, None))
            return cp.tp
        return None


class ExactlyOnceSink(Sink):
    exactly_once = True

    def __init__(self, *args: Any, app_id: str, group_id: str, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.app_id = app_id
        self.group_id = group_id
        self.producers: dict[TopicPartition, AIOKafkaProducer] = {}
        self._in_txn: set[TopicPartition] = set()
        #: the acknowledgements of the outputs of each open transaction: aiokafka commits a
        #: transaction even when one of its sends failed, so the commit waits for them first
        self._sent: dict[TopicPartition, list[asyncio.Future[Any]]] = {}

    def transactional_id(self, tp: TopicPartition) -> str:
        return f"{self.app_id}.{tp.topic}.{tp.partition}"

    async def start(self) -> None:
        pass

    async def open(self, tp: TopicPartition) -> None:
        """A producer for `tp`; starting it fences any other holder of its transactional id
        and aborts that holder's open transaction."""
        if tp in self.producers:
            return
        self.producers[tp] = await self._transactional(self.transactional_id(tp))

    async def close(self, tp: TopicPartition) -> None:
        """Forget `tp`: an open transaction is aborted (its state was not checkpointed)."""
        self._sent.pop(tp, None)
        producer = self.producers.pop(tp, None)
        if producer is None:
            return
        if tp in self._in_txn:
            self._in_txn.discard(tp)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.abort_transaction(), STOP_TIMEOUT_S)
        await _stop(producer)

    async def discard(self) -> None:
        """After a failure: every producer killed, no abort attempted (the broker may be
        away). The open transactions are aborted by the broker when the successors with the
        same transactional ids start (or when they time out)."""
        producers, self.producers = self.producers, {}
        self._in_txn.clear()
        self._sent.clear()
        await asyncio.gather(*(_kill(p) for p in producers.values()))

    async def stop(self) -> None:
        for tp in list(self.producers):
            await self.close(tp)

    async def _begin(self, tp: TopicPartition) -> AIOKafkaProducer:
        producer = self.producers[tp]
        if tp not in self._in_txn:
            await asyncio.wait_for(producer.begin_transaction(), self.timeout_s)
            self._in_txn.add(tp)
        return producer

    async def send(self, tp: TopicPartition, outputs: Sequence[Output]) -> None:
        if outputs:
            producer = await self._begin(tp)
            self._sent.setdefault(tp, []).extend(await self._send_outputs(producer, outputs))

    def take_pending(self) -> list[asyncio.Future[Any]]:
        return []  # the transaction's commit waits for its outputs

    async def checkpoint(
        self, cps: Sequence[Checkpoint], pending: Sequence[asyncio.Future[Any]]
    ) -> set[TopicPartition]:
        """Per partition: changelog, input offset and outputs in one committed transaction.
        Returns the partitions found lost (fenced by a successor: their transaction aborted)."""
        lost: set[TopicPartition] = set()
        for cp in cps:
            if cp.tp not in self.producers:
                lost.add(cp.tp)
                continue
            try:
                producer = await self._begin(cp.tp)
                await asyncio.wait_for(_all(self._sent.pop(cp.tp, [])), 2 * self.timeout_s)
                if self.state_topic is not None:
                    await asyncio.wait_for(
                        self._write_state(producer, [cp], transactional=True), 2 * self.timeout_s
                    )
                await asyncio.wait_for(
                    producer.send_offsets_to_transaction({cp.tp: cp.position}, self.group_id),
                    self.timeout_s,
                )
                await asyncio.wait_for(producer.commit_transaction(), self.timeout_s)
                self._in_txn.discard(cp.tp)
            except FENCED:
                lost.add(cp.tp)
                self._in_txn.discard(cp.tp)
                self._sent.pop(cp.tp, None)
                await _kill(self.producers.pop(cp.tp, None))
        return lost
