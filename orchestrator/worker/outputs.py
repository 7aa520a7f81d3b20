"""Turning core effects into records, and the one producer every shell writes through."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime

import orjson
from aiokafka import AIOKafkaProducer

from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.codec import b64, encode
from orchestrator.contracts.records import DlqRecord, LateRecord
from orchestrator.core.effects import TooLate
from orchestrator.core.timeutil import from_ms
from orchestrator.kafka.write import send_batches
from orchestrator.worker.metrics import Metrics

#: One output record: (topic role, key, value).
Output = tuple[str, bytes | None, bytes | None]


def late_record(effect: TooLate) -> bytes:
    return encode(
        LateRecord(
            code=effect.code,
            window_id=effect.window_id,
            watermark=from_ms(effect.watermark_ms),
            event=effect.event,
            partition=effect.partition,
            offset=effect.offset,
        )
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


class Outputs:
    """A single aiokafka producer for all output and changelog records.

    `flush()` returns once everything sent before it is acknowledged: the state changelog is
    written only after the outputs it accounts for (see EventTimeShell).
    """

    def __init__(
        self, bootstrap: str, catalog: Catalog, idempotent: bool, metrics: Metrics
    ) -> None:
        self.catalog = catalog
        self.metrics = metrics
        self.bootstrap = bootstrap
        self._config = {
            "bootstrap_servers": bootstrap,
            "acks": "all",
            "enable_idempotence": idempotent,
            "linger_ms": 5,
            "max_batch_size": 256 * 1024,
            "client_id": "orchestrator-worker",
        }
        self._producer: AIOKafkaProducer | None = None
        self._pending: list[asyncio.Future[object]] = []

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("Outputs.start() was not awaited")
        return self._producer

    async def start(self) -> None:
        """Create and start the producer (it needs the running loop)."""
        self._producer = AIOKafkaProducer(**self._config)
        await self._producer.start()

    async def stop(self) -> None:
        await self.flush()
        await self.producer.stop()

    async def send(
        self, role: str, key: bytes | None, value: bytes | None, partition: int | None = None
    ) -> None:
        fut = await self.producer.send(
            self.catalog.name(role), value=value, key=key, partition=partition
        )
        self._pending.append(fut)

    async def send_many(
        self,
        role: str,
        partition: int,
        records: Iterable[tuple[bytes, bytes | None]],
        *,
        yield_every: int = 0,
    ) -> None:
        """Many records to one partition (the changelog at a checkpoint) as record batches
        (`send_batches`); `flush()` waits for them like for any other send."""
        self._pending += await send_batches(
            self.producer, self.catalog.name(role), partition, records, yield_every=yield_every
        )

    def dlq(
        self,
        code: str,
        message: str,
        event_id: str | None,
        value: bytes | None,
        key: bytes | None,
        topic: str,
        partition: int,
        offset: int,
    ) -> Output:
        """The dlq envelope of SPEC §2 for one input record, keyed like the input, counted in
        `orchestrator_dlq_total`. Every dlq record is built here and sent at once by the caller,
        so the metric equals the topic (send it with `send(*outputs.dlq(...))`)."""
        record = DlqRecord(
            code=code,
            message=message,
            event_id=event_id,
            original=b64(value) or "",
            key=b64(key),
            topic=topic,
            partition=partition,
            offset=offset,
            at=utcnow(),
        )
        self.metrics.dlq.labels(code).inc()
        return ("dlq", key, encode(record))

    async def send_json(self, role: str, key: str, obj: object) -> None:
        await self.send(role, key.encode(), orjson.dumps(obj))

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)
