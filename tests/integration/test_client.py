"""`orchestrator.client`: events sent from Python land where `produce` puts them, with the same
keys and bytes, validated with the same codes; on both brokers, sync and async."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from orchestrator.client import AsyncProducer, ContractError, Delivered, Producer
from orchestrator.contracts import decode, encode
from orchestrator.contracts.events import CommandOverride, CommandRollback, key_of
from orchestrator.core.access import sign
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.read import read_topic
from orchestrator.produce import parse_lines
from tests import factories
from tests.conftest import ROOT, applied

GATES = ROOT / "gates"
KEY = b"EXAMPLE-ONLY-client-test-key-0123456789abcdef"


def records(bootstrap: str, topic: str) -> list[tuple[int, int, bytes | None, bytes | None]]:
    got = asyncio.run(read_topic(Connection(bootstrap), topic))
    return [(p, r[0], r[1], r[2]) for p, r in got]


def test_sync_producer_sends_every_event_type(any_bootstrap: str, topics_dir: Path) -> None:
    catalog = applied(any_bootstrap, topics_dir)
    with Producer.connect(any_bootstrap, topics=topics_dir, gates=GATES) as p:
        futures = [
            p.arrival(
                dataset="clicks",
                source="eu",
                event_time="2026-11-23T10:05:00Z",
                uri="s3://bucket/clicks/1.parquet",
                checksum="sha256:ab12",
                record_count=1200,
                event_id="a1",
            ),
            p.watermark(dataset="clicks", source="eu", watermark="2026-11-23T11:00:00Z"),
            p.model_update(
                model="churn",
                version="v9",
                artifact_uri="s3://models/churn/v9",
                artifact_digest="sha256:cd34",
                metrics={"auc": 0.91},
                trained_on=["clicks/2026-11-23T10:00:00Z/PT1H"],
            ),
            p.performance(
                model="fraud",
                version="v1",
                interval_start="2026-11-23T10:00:00Z",
                interval_end="2026-11-23T10:05:00Z",
                metrics={"recall": 0.9},
                sample_count=500,
            ),
            p.rollback(model="churn", actor="alice", reason="bad outputs", key=KEY),
            p.override(subject="fraud:v2", outcome="reject", actor="bob", reason="r", key=KEY),
        ]
        delivered = p.flush()
    assert [f.result(timeout=1) for f in futures] == delivered
    assert [d.type for d in delivered] == [
        "data.arrival",
        "data.watermark",
        "model.update",
        "model.performance",
        "command.rollback",
        "command.override",
    ]
    assert [d.key for d in delivered] == ["clicks", "clicks", "churn", "fraud", "churn", "fraud:v2"]
    by_topic: dict[str, list[Delivered]] = {}
    for d in delivered:
        by_topic.setdefault(d.topic, []).append(d)
    assert set(by_topic) == {
        catalog.name("arrivals"),
        catalog.name("model_updates"),
        catalog.name("commands"),
    }
    for topic, sent in by_topic.items():
        stored = {(p_, o): (k, v) for p_, o, k, v in records(any_bootstrap, topic)}
        for d in sent:
            key, value = stored[(d.partition, d.offset)]
            event = decode(value, key)
            assert event.event_id == d.event_id and key == key_of(event).encode()
            assert value == encode(event)  # the bytes produce would send for it
            if isinstance(event, CommandRollback | CommandOverride):
                assert event.signature == sign(event, KEY)


def test_the_client_refuses_what_produce_refuses(embedded_bootstrap: str, topics_dir: Path) -> None:
    applied(embedded_bootstrap, topics_dir)
    bad = {**factories.arrival("b1"), "record_count": -1}
    produce = parse_lines([orjson.dumps(bad)]).errors[0]
    with Producer.connect(embedded_bootstrap, topics=topics_dir, gates=GATES) as p:
        with pytest.raises(ContractError) as caught:
            p.send(bad)
        assert (caught.value.code, caught.value.message) == (produce.code, produce.message)
        with pytest.raises(ContractError) as caught:
            p.arrival(
                dataset="clickz",
                source="eu",
                event_time="2026-11-23T10:05:00Z",
                uri="u",
                checksum="c",
                record_count=1,
            )
        assert caught.value.code == "E_UNKNOWN_DATASET" and "'clickz'" in caught.value.message
        with pytest.raises(ContractError) as caught:  # a naive time, as in a JSON line
            p.watermark(dataset="clicks", source="eu", watermark="2026-11-23T11:00:00")
        assert caught.value.code == "E_SCHEMA" and "watermark" in caught.value.message
        with pytest.raises(ContractError) as caught:
            p.send({**factories.arrival("big"), "uri": "x" * 2_000_000})
        assert caught.value.code in {"E_TOO_LARGE", "E_SCHEMA"}
        assert p.flush() == []  # nothing was sent
    with Producer.connect(
        embedded_bootstrap, topics=topics_dir, gates=GATES, allow_unknown=True
    ) as p:
        p.send(factories.arrival("u1", dataset="clickz"))
        assert [d.key for d in p.flush()] == ["clickz"]


def test_async_producer_sends_a_batch_whole_or_not_at_all(
    any_bootstrap: str, topics_dir: Path
) -> None:
    catalog = applied(any_bootstrap, topics_dir)
    batch = [factories.arrival(f"x{i}", source="eu") for i in range(50)]

    async def run() -> list[Delivered]:
        async with AsyncProducer.connect(any_bootstrap, topics=topics_dir, gates=GATES) as p:
            with pytest.raises(ContractError):
                await p.send_many([*batch[:10], {**batch[10], "type": "data.nope"}])
            return await p.send_many(batch)

    delivered = asyncio.run(run())
    assert [d.event_id for d in delivered] == [f"x{i}" for i in range(50)]
    stored = records(any_bootstrap, catalog.name("arrivals"))
    assert sorted(decode(v, k).event_id for _, _, k, v in stored) == sorted(
        f"x{i}" for i in range(50)
    )
    offsets = [d.offset for d in delivered if d.partition == delivered[0].partition]
    assert offsets == sorted(offsets)  # in order within the partition
