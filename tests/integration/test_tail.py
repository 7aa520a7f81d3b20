"""`orchestrator tail ROLE`: what a topic holds, read as a user would (the CLI in a
subprocess), on both brokers: the last N in time order, filters, --json, --since, --follow."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from tests import factories
from tests.conftest import ROOT, applied, run_cli

GOLDEN = ROOT / "tests" / "golden"


def dlq(code: str, original: dict[str, object], offset: int) -> bytes:
    return orjson.dumps(
        {
            "type": "dlq.record",
            "v": 1,
            "code": code,
            "message": f"{code} for the test",
            "original": base64.b64encode(orjson.dumps(original)).decode(),
            "topic": "data.arrivals",
            "partition": 0,
            "offset": offset,
            "at": "2026-12-07T10:00:00Z",
        }
    )


async def send(bootstrap: str, topic: str, values: Sequence[tuple[bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    try:
        for key, value in values:  # one at a time: each its own time, in this order
            await (await producer.send(topic, value, key=key))
            await asyncio.sleep(0.005)
    finally:
        await producer.stop()


def tail(bootstrap: str, topics: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("tail", *args, "--broker", bootstrap, "--topics", str(topics))


def test_tail_reads_filters_and_follows(any_bootstrap: str, topics_dir: Path) -> None:
    catalog = applied(any_bootstrap, topics_dir)
    records = [
        (b"clicks", dlq("E_SCHEMA", factories.arrival("a1", dataset="clicks"), 1)),
        (b"payments", dlq("E_SCHEMA", factories.arrival("a2", dataset="payments"), 2)),
        (b"churn", dlq("E_BAD_SIGNATURE", factories.rollback("c1", model="churn"), 3)),
        (b"x", b"\xff\x00 not json at all"),  # a dlq holds what it is given: shown, not fatal
        (b"clicks", dlq("E_DUPLICATE_CONFLICT", factories.arrival("a3", dataset="clicks"), 4)),
    ]
    asyncio.run(send(any_bootstrap, catalog.name("dlq"), records))

    every = tail(any_bootstrap, topics_dir, "dlq", "--all", "--json")
    assert every.returncode == 0, every.stderr
    got = [json.loads(line) for line in every.stdout.splitlines()]
    assert [g["key"] for g in got] == ["clicks", "payments", "churn", "x", "clicks"]
    assert got[0]["value"]["code"] == "E_SCHEMA" and got[0]["topic"] == catalog.name("dlq")
    assert got[3]["value"].startswith("base64:")

    last2 = tail(any_bootstrap, topics_dir, "dlq", "-n", "2", "--json")
    assert [json.loads(x)["key"] for x in last2.stdout.splitlines()] == ["x", "clicks"]

    by_dataset = tail(any_bootstrap, topics_dir, "dlq", "--dataset", "clicks", "--json")
    assert [json.loads(x)["value"]["code"] for x in by_dataset.stdout.splitlines()] == [
        "E_SCHEMA",
        "E_DUPLICATE_CONFLICT",
    ]
    by_code = tail(any_bootstrap, topics_dir, "dlq", "--code", "E_BAD_SIGNATURE")
    assert by_code.returncode == 0 and len(by_code.stdout.splitlines()) == 1
    assert "E_BAD_SIGNATURE" in by_code.stdout and "[" in by_code.stdout  # topic[p]@offset
    by_model = tail(any_bootstrap, topics_dir, "dlq", "--model", "churn", "--json")
    assert [json.loads(x)["key"] for x in by_model.stdout.splitlines()] == ["churn"]
    assert tail(any_bootstrap, topics_dir, "dlq", "--dataset", "nope").stdout == ""

    # decisions, by the topic's name as well as its role; --outcome and --model
    golden = sorted(GOLDEN.glob("*-decision-*.json"))
    decisions = [orjson.dumps(json.loads(p.read_text())) for p in golden]
    asyncio.run(send(any_bootstrap, catalog.name("audit"), [(None, d) for d in decisions]))
    audit = tail(any_bootstrap, topics_dir, catalog.name("audit"), "--all")
    assert audit.returncode == 0 and len(audit.stdout.splitlines()) == len(golden)
    promoted = tail(any_bootstrap, topics_dir, "audit", "--all", "--outcome", "promote", "--json")
    expected = [json.loads(p.read_text()) for p in golden]
    assert len(promoted.stdout.splitlines()) == sum(d["outcome"] == "promote" for d in expected)
    churn = tail(any_bootstrap, topics_dir, "audit", "--all", "--model", "churn", "--json")
    assert len(churn.stdout.splitlines()) == sum(d.get("model") == "churn" for d in expected)

    # --since: only what came after
    since = time.time()
    time.sleep(1.1)
    late = (b"clicks", dlq("E_TOO_LATE", factories.arrival("a9", dataset="clicks"), 9))
    asyncio.run(send(any_bootstrap, catalog.name("dlq"), [late]))
    recent = tail(
        any_bootstrap, topics_dir, "dlq", "--since", f"-{int(time.time() - since)}s", "--json"
    )
    assert [json.loads(x)["value"]["code"] for x in recent.stdout.splitlines()] == ["E_TOO_LATE"]

    # --follow: nothing old (-n 0), then what arrives, as it arrives
    follow = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestrator",
            "tail",
            "dlq",
            "-n",
            "0",
            "--follow",
            "--json",
            "--code",
            "E_LIMIT",
            "--broker",
            any_bootstrap,
            "--topics",
            str(topics_dir),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(4)  # started and following
        fresh = (b"clicks", dlq("E_LIMIT", factories.arrival("a10", dataset="clicks"), 10))
        asyncio.run(send(any_bootstrap, catalog.name("dlq"), [late, fresh]))
        assert follow.stdout is not None
        line = follow.stdout.readline()
        assert json.loads(line)["value"]["code"] == "E_LIMIT"
    finally:
        follow.terminate()
        follow.wait(10)


def test_tail_refuses_an_unknown_role(embedded_bootstrap: str, topics_dir: Path) -> None:
    out = tail(embedded_bootstrap, topics_dir, "windowz")
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "'windowz'" in out.stderr and "roles:" in out.stderr
