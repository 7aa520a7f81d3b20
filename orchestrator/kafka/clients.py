"""Every Kafka client the project builds comes from one `Connection`: where the brokers are and
how to talk to them (transport and authentication). Nothing else constructs an aiokafka client
from a bare address, so one setting reaches the worker, the CLI verbs, replay, audit, the demo,
the example trainer and the bench alike.

Readers default to `read_committed`: under `processing_guarantee: exactly_once` the worker's
outputs are transactional, and an aborted transaction must never be read as a decision. On a
topic written without transactions it reads exactly what `read_uncommitted` would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient


@dataclass(frozen=True, eq=False)
class Connection:
    """Bootstrap servers plus the client options every client shares (security, timeouts).

    `options` are aiokafka keyword arguments (`security_protocol`, `ssl_context`,
    `sasl_mechanism`, ...). They may hold secrets: `repr` never shows them."""

    bootstrap: str
    options: Mapping[str, Any] = field(default_factory=dict)
    #: Shown instead of `options` (e.g. "SASL_SSL SCRAM-SHA-512 as worker"); never a secret.
    description: str = "PLAINTEXT"

    def __repr__(self) -> str:
        return f"Connection({self.bootstrap!r}, {self.description})"

    def _kw(self, kw: Mapping[str, Any]) -> dict[str, Any]:
        return {"bootstrap_servers": self.bootstrap, **self.options, **kw}

    def producer(self, **kw: Any) -> AIOKafkaProducer:
        return AIOKafkaProducer(**self._kw(kw))

    def consumer(self, *topics: str, **kw: Any) -> AIOKafkaConsumer:
        kw.setdefault("isolation_level", "read_committed")
        return AIOKafkaConsumer(*topics, **self._kw(kw))

    def admin(self, **kw: Any) -> AIOKafkaAdminClient:
        kw.setdefault("client_id", "orchestrator-admin")
        return AIOKafkaAdminClient(**self._kw(kw))

    def client(self, **kw: Any) -> AIOKafkaClient:
        return AIOKafkaClient(**self._kw(kw))


def plaintext(bootstrap: str) -> Connection:
    """A connection without transport security or authentication (tests, the embedded broker)."""
    return Connection(bootstrap)


async def quietly(closing: Awaitable[object], timeout_s: float = 10.0) -> None:
    """Await a client's stop or close on the way out, for at most `timeout_s`: whatever it
    raises is dropped (the process is leaving; a broker that is away must not hold it)."""
    with contextlib.suppress(Exception, TimeoutError):
        await asyncio.wait_for(closing, timeout_s)
