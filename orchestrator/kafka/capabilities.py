"""Asking a broker what it supports, instead of guessing from its address."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka.errors import for_code
from aiokafka.protocol.transaction import InitProducerIdRequest

from orchestrator.kafka.clients import Connection
from orchestrator.settings import Settings


async def supports_idempotence(conn: Connection, timeout: float = 15.0) -> bool:
    """True if the broker grants a producer id (InitProducerId), which idempotence needs.

    The embedded tansu broker answers with an error, Apache Kafka with an id.
    A freshly started Kafka may answer with a retriable error for a few seconds; those are retried.
    """
    client = conn.client(client_id="orchestrator-probe")
    await client.bootstrap()
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            node = client.get_random_node()
            response = await client.send(node, InitProducerIdRequest(None, 60_000))
            if response.error_code == 0:
                return True
            if not for_code(response.error_code).retriable:
                return False
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.2)
    finally:
        await client.close()


async def producer_idempotence(settings: Settings, conn: Connection) -> bool:
    """Whether producers should enable idempotence, per settings (probing the broker on 'auto')."""
    if settings.idempotent_producer == "auto":
        return await supports_idempotence(conn)
    return settings.idempotent_producer == "on"


async def supports_transactions(
    conn: Connection, transactional_id: str, timeout: float = 20.0
) -> bool:
    """True if the broker runs transactions (a transactional producer can initialize).

    Apache Kafka does; the embedded tansu broker does not. `transactional_id` is one the
    worker may use (its ACLs cover `<app_id>.`)."""
    producer = conn.producer(transactional_id=transactional_id, client_id="orchestrator-probe")
    try:
        await asyncio.wait_for(producer.start(), timeout)
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 5)
    return True
