"""What the embedded broker does not support, measured against Apache Kafka (README table)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from orchestrator.kafka.capabilities import supports_idempotence
from orchestrator.kafka.clients import Connection
from tests.conftest import make_catalog, run_cli


def test_idempotence_probe(kafka_bootstrap: str, embedded_bootstrap: str) -> None:
    """Apache Kafka grants a producer id; the embedded broker does not."""
    assert asyncio.run(supports_idempotence(Connection(kafka_bootstrap))) is True
    assert asyncio.run(supports_idempotence(Connection(embedded_bootstrap))) is False


async def _offsets_for_times(bootstrap: str, compact: bool) -> tuple[int | None, int]:
    topic = f"limits-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    configs = {"cleanup.policy": "compact"} if compact else {}
    await admin.create_topics([NewTopic(topic, 1, 1, topic_configs=configs)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    for i in range(5):
        await producer.send_and_wait(
            topic, b"v%d" % i, key=b"same", partition=0, timestamp_ms=1000 * (i + 1)
        )
    await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    found = (await consumer.offsets_for_times({tp: 3000}))[tp]
    end = (await consumer.end_offsets([tp]))[tp]
    await consumer.stop()
    return (found.offset if found else None), end


def test_offsets_for_times(kafka_bootstrap: str, embedded_bootstrap: str) -> None:
    """Kafka finds the first record at or after a timestamp; the embedded broker answers offset 0."""
    assert asyncio.run(_offsets_for_times(kafka_bootstrap, False))[0] == 2
    assert asyncio.run(_offsets_for_times(embedded_bootstrap, False))[0] == 0


def test_embedded_keeps_every_record_of_compacted_topic(embedded_bootstrap: str) -> None:
    """The embedded broker keeps all five values of one key on a compacted topic (no cleaner)."""
    _, end = asyncio.run(_offsets_for_times(embedded_bootstrap, True))
    assert end == 5


async def _transaction(bootstrap: str) -> bool:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, transactional_id=f"t-{uuid.uuid4().hex[:6]}"
    )
    try:
        await asyncio.wait_for(producer.start(), 10)
        return True
    except Exception:
        return False
    finally:
        await producer.stop()


def test_embedded_has_no_transactions(embedded_bootstrap: str) -> None:
    """A transactional producer cannot start on the embedded broker."""
    assert asyncio.run(_transaction(embedded_bootstrap)) is False


async def _end_vs_records(bootstrap: str) -> tuple[int, int]:
    from orchestrator.kafka.read import read_range

    topic = f"limits-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 3, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    for i in range(30):
        await producer.send(topic, b"v%d" % i, key=b"k%d" % (i % 7))
    await producer.flush()
    await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in range(3)]
    reported = sum((await consumer.end_offsets(tps)).values())
    await consumer.stop()
    records = sum(
        [len(await read_range(Connection(bootstrap), topic, p, 0, None)) for p in range(3)]
    )
    return reported, records


def test_end_offsets_after_multi_partition_produce(
    kafka_bootstrap: str, embedded_bootstrap: str
) -> None:
    """Kafka reports end offsets that match the records; the embedded broker under-reports them,
    and read_range still reads every record on both."""
    assert asyncio.run(_end_vs_records(kafka_bootstrap)) == (30, 30)
    reported, records = asyncio.run(_end_vs_records(embedded_bootstrap))
    assert records == 30 and reported < 30


def test_worker_refuses_exactly_once_on_the_embedded_broker(
    embedded_bootstrap: str, tmp_path: Path
) -> None:
    """`processing_guarantee: exactly_once` needs transactions: on the embedded broker the
    worker stops before consuming anything, with one line that says why, and exit code 2."""
    topics = make_catalog(tmp_path / "topics", f"e{uuid.uuid4().hex[:8]}")
    assert (
        run_cli(
            "topics", "apply", "--broker", embedded_bootstrap, "--topics", str(topics)
        ).returncode
        == 0
    )
    out = run_cli(
        "worker",
        "--broker",
        embedded_bootstrap,
        "--topics",
        str(topics),
        "--processing-guarantee",
        "exactly_once",
        timeout=120,
    )
    assert out.returncode == 2, out.stderr[-2000:]
    assert "does not support transactions" in out.stderr and "Traceback" not in out.stderr
