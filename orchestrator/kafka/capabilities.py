"""Asking a broker what it supports, instead of guessing from its address."""

from __future__ import annotations

from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.transaction import InitProducerIdRequest

from orchestrator.settings import Settings


async def supports_idempotence(bootstrap: str) -> bool:
    """True if the broker grants a producer id (InitProducerId), which idempotence needs.

    The embedded tansu broker answers with an error, Apache Kafka with an id.
    """
    client = AIOKafkaClient(bootstrap_servers=bootstrap, client_id="orchestrator-probe")
    await client.bootstrap()
    try:
        node = client.get_random_node()
        response = await client.send(node, InitProducerIdRequest(None, 60_000))
        return bool(response.error_code == 0)
    except Exception:
        return False
    finally:
        await client.close()


async def producer_idempotence(settings: Settings, bootstrap: str) -> bool:
    """Whether producers should enable idempotence, per settings (probing the broker on 'auto')."""
    if settings.idempotent_producer == "auto":
        return await supports_idempotence(bootstrap)
    return settings.idempotent_producer == "on"
