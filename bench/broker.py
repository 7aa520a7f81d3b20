"""The broker the bench runs on (Apache Kafka from deploy/kafka, or one it is given) and the
topics it makes there: each measurement gets fresh ones, broker-timestamped where latency is read."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bench import ROOT
from bench.workload import make_topics
from orchestrator.catalog.topics import Catalog, TopicSpec
from orchestrator.kafka.admin import apply_topics
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.read import partitions_of, read_timed
from orchestrator.testing import KafkaBroker

# -- the broker -------------------------------------------------------------------------------


def start_kafka(tmp: Path, name: str = "kafka") -> tuple[str, Path]:
    """Apache Kafka from deploy/kafka, in `tmp/name`: (bootstrap address, its run directory)."""
    broker = KafkaBroker(tmp / name, root=ROOT)
    return broker.start(attempts=2), broker.run_dir


def stop_kafka(run: Path | None) -> None:
    """Stop the broker `start_kafka` started in `run` (None: not ours, nothing to do)."""
    if run is not None:
        KafkaBroker(run, root=ROOT).stop()


@contextlib.contextmanager
def own_kafka(tmp: Path, broker: str | None) -> Iterator[tuple[str, Path | None]]:
    """`broker` if given (its run directory None), else a broker of our own for the block."""
    if broker:
        yield broker, None
        return
    bootstrap, run = start_kafka(tmp)
    try:
        yield bootstrap, run
    finally:
        stop_kafka(run)


def broker_pid(kafka_run: Path | None) -> int | None:
    """The pid of the broker `deploy/kafka/kafka.sh start` started (None: not ours)."""
    if kafka_run is None:
        return None
    try:
        return int((kafka_run / "kafka.pid").read_text().strip())
    except (OSError, ValueError):
        return None


# -- topics -----------------------------------------------------------------------------------


def fresh(conn: Connection, tmp: Path, name: str, partitions: int) -> tuple[Path, Catalog]:
    topics = make_topics(
        tmp / f"topics-{name}", f"bench-{name}-{time.time_ns() % 10**8}", partitions
    )
    catalog = Catalog.load(topics)
    asyncio.run(apply_topics(conn, catalog))
    asyncio.run(broker_timestamps(conn, [catalog.specs["arrivals"], catalog.specs["audit"]]))
    return topics, catalog


async def delete_topics(conn: Connection, names: list[str]) -> None:
    admin = conn.admin()
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


async def broker_timestamps(conn: Connection, topics: list[TopicSpec]) -> None:
    """LogAppendTime on the topics latency is read from: a record's timestamp is then the time
    the broker appended it, so the latency is broker to broker (and not the load generator's
    own batching delay before its records reach the broker)."""
    admin = conn.admin()
    await admin.start()
    try:
        await admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC,
                    t.name,
                    # AlterConfigs replaces a topic's whole config: restate the catalog's part
                    configs={**t.broker_configs(), "message.timestamp.type": "LogAppendTime"},
                )
                for t in topics
            ]
        )
    finally:
        await admin.close()


async def topic_bytes(conn: Connection, topic: str) -> int:
    total = 0
    for p in await partitions_of(conn, topic):
        for _, k, v, _, _ in await read_timed(conn, topic, p, 0, None):
            total += len(k or b"") + len(v or b"")
    return total
