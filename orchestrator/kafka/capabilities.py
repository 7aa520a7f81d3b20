"""Asking a broker what it supports, instead of guessing from its address."""

from __future__ import annotations

import asyncio

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import for_code
from aiokafka.protocol.transaction import InitProducerIdRequest

from orchestrator.settings import Settings


async def supports_idempotence(bootstrap: str, timeout: float = 15.0) -> bool:
    """True if the broker grants a producer id (InitProducerId), which idempotence needs.

    The embedded tansu broker answers with an error, Apache Kafka with an id.
    A freshly started Kafka may answer with a retriable error for a few seconds; those are retried.
    """
    client = AIOKafkaClient(bootstrap_servers=bootstrap, client_id="orchestrator-probe")
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


async def producer_idempotence(settings: Settings, bootstrap: str) -> bool:
    """Whether producers should enable idempotence, per settings (probing the broker on 'auto')."""
    if settings.idempotent_producer == "auto":
        return await supports_idempotence(bootstrap)
    return settings.idempotent_producer == "on"
