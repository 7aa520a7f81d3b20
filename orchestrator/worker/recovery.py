"""How an input comes back: a partition's state from its changelog, a stateless input's
position from its committed offset, and the broker waited for with backoff until it answers
(or for at most `max_outage_s`, after which the worker gives up: `Outage`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import structlog
from aiokafka import TopicPartition
from aiokafka.errors import (
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from orchestrator.errors import OrchestratorError
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.read import read_range

log = structlog.get_logger("orchestrator.ingest")

BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)
#: exactly_once: a stateless input's committed offset is read again after this, until it stays
#: the same (at most STABLE_READS times; see `stable_committed`)
STABLE_S = 0.3
STABLE_READS = 10
#: what a broker that is away raises
BROKER_ERRORS = (KafkaError, OSError, TimeoutError)


class Outage(OrchestratorError):
    """The broker stayed unreachable (or kept failing the same way) for longer than the
    worker waits."""


#: the broker refused a record as too large: a configuration error (the topic or the broker
#: takes less than the catalog says), never retried as an outage
TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)


class RecordRefused(OrchestratorError):
    """The broker refused an output as too large: its topic or the broker takes less than the
    topic catalog says."""

    @classmethod
    def of(cls, exc: BaseException) -> RecordRefused:
        return cls(
            f"the broker refused an output as too large ({type(exc).__name__}): a topic's "
            "max.message.bytes or the broker's message.max.bytes is smaller than the topic "
            "catalog's max_message_bytes; align them (topics apply reports a topic that differs)"
        )


def broker_error(exc: BaseException) -> str:
    return f"broker: {type(exc).__name__}: {exc}"[:300]


async def read_changelog(conn: Connection, topic: str, partition: int) -> dict[str, Any]:
    """The latest value per key of one changelog partition (tombstones remove keys)."""
    state: dict[str, Any] = {}
    for _, key, value in await read_range(conn, topic, partition, 0, None):
        if key is None:
            continue
        k = key.decode()
        if value is None:
            state.pop(k, None)
        else:
            state[k] = orjson.loads(value)
    return state


async def stable_committed(consumer: Any, tp: TopicPartition, exactly_once: bool) -> int | None:
    """A stateless input's committed offset, its position. Under exactly_once the offsets
    are committed by transactions: a transaction the broker was still completing when the
    producer was opened (after a broker restart) may apply its offsets to the group a
    moment later, and aiokafka's offset fetch cannot ask for stable offsets only (Kafka's
    require_stable), so the offset is read until it stays the same for STABLE_S."""
    committed: int | None = await consumer.committed(tp)
    if not exactly_once:
        return committed
    for _ in range(STABLE_READS):
        await asyncio.sleep(STABLE_S)
        again: int | None = await consumer.committed(tp)
        if again == committed:
            return committed
        committed = again
    return committed


async def until_reset(
    reset: Callable[[], Awaitable[None]],
    *,
    name: str,
    started: float,
    max_outage_s: float,
    error: str,
    note: Callable[[str], None],
) -> None:
    """`reset()` again with backoff until it succeeds; `Outage` once the broker has been
    failing for more than `max_outage_s` since `started` (monotonic s; 0: wait for ever).
    `note` hears each new failure (the input's degraded reason)."""
    attempt = 0
    while True:
        try:
            await reset()
        except BROKER_ERRORS as again:
            error = broker_error(again)
            note(error)
        else:
            return
        waited = time.monotonic() - started
        if max_outage_s and waited > max_outage_s:
            raise Outage(f"broker unreachable for {waited:.0f} s: {error}")
        delay = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
        attempt += 1
        log.info(
            "broker still unavailable; retrying",
            input=name,
            in_s=delay,
            waited_s=round(waited, 1),
            error=error,
        )
        await asyncio.sleep(delay)
