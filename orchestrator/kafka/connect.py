"""Resolving `--broker` into a live `Connection` (starting the embedded broker on demand)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from orchestrator.kafka.clients import Connection
from orchestrator.kafka.embedded import EmbeddedBroker, registered_broker
from orchestrator.settings import Settings


@dataclass(frozen=True)
class BrokerInfo:
    conn: Connection
    embedded: bool

    @property
    def bootstrap(self) -> str:
        return self.conn.bootstrap


def connection(settings: Settings, bootstrap: str) -> Connection:
    """The connection every client of this process uses, from settings."""
    return Connection(bootstrap)


@contextlib.contextmanager
def broker_session(settings: Settings) -> Iterator[BrokerInfo]:
    """Yield where to connect. `embedded` reuses a registered live embedded broker or starts one
    that lives as long as the block."""
    if not settings.is_embedded:
        yield BrokerInfo(connection(settings, settings.broker), embedded=False)
        return
    run_dir = settings.state_dir.parent
    existing = registered_broker(run_dir)
    if existing:
        yield BrokerInfo(Connection(existing), embedded=True)
        return
    broker = EmbeddedBroker(run_dir)
    broker.start()
    try:
        yield BrokerInfo(Connection(broker.bootstrap), embedded=True)
    finally:
        broker.stop()
