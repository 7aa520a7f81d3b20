"""`orchestrator produce` round trip: CLI in, plain aiokafka consumer and kcat out."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer

from orchestrator.catalog.topics import Catalog
from orchestrator.contracts import decode, encode
from tests import factories
from tests.conftest import applied, run_cli

VALID = [
    factories.arrival("a1", event_time="2026-11-23T11:05:00+01:00"),
    factories.arrival("a2", dataset="payments", source="pos"),
    factories.watermark("w1"),
    factories.model_update("m1"),
    factories.rollback("c1"),
    factories.override("c2"),
]
INVALID = [
    {**factories.arrival("bad1"), "record_count": -1},
    {**factories.arrival("bad2"), "type": "data.unknown"},
]


async def read_all(
    bootstrap: str, topic: str, expected: int, timeout: float = 20
) -> list[tuple[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    out: list[tuple[bytes, bytes]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(out) < expected and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                out.extend((r.key, r.value) for r in records)
        await asyncio.sleep(0.5)  # anything beyond `expected` would show up now
        for records in (await consumer.getmany(timeout_ms=500)).values():
            out.extend((r.key, r.value) for r in records)
    finally:
        await consumer.stop()
    return out


def _write_lines(path: Path, objs: list[dict[str, object]]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(o) for o in objs) + b"\n")
    return path


def _expected_by_topic(catalog: Catalog) -> dict[str, list[tuple[bytes, bytes]]]:
    out: dict[str, list[tuple[bytes, bytes]]] = {}
    roles = {
        "data.arrival": "arrivals",
        "data.watermark": "arrivals",
        "model.update": "model_updates",
        "command.rollback": "commands",
        "command.override": "commands",
    }
    keys = {
        "data.arrival": "dataset",
        "data.watermark": "dataset",
        "model.update": "model",
        "command.rollback": "model",
        "command.override": "subject",
    }
    for obj in VALID:
        event = decode(orjson.dumps(obj))
        topic = catalog.name(roles[event.type])
        out.setdefault(topic, []).append((str(obj[keys[event.type]]).encode(), encode(event)))
    return out


def test_produce_round_trip(any_bootstrap: str, topics_dir: Path, tmp_path: Path) -> None:
    """Invalid lines stop the whole file; --skip-invalid sends exactly the valid events, keyed per SPEC."""
    catalog = applied(any_bootstrap, topics_dir)
    mixed = _write_lines(tmp_path / "mixed.jsonl", [VALID[0], INVALID[0], *VALID[1:], INVALID[1]])

    refused = run_cli("produce", str(mixed), "--broker", any_bootstrap, "--topics", str(topics_dir))
    assert refused.returncode == 1
    assert "line 2: E_SCHEMA: field 'record_count'" in refused.stderr
    assert f"line {len(VALID) + 2}: E_UNKNOWN_TYPE" in refused.stderr
    assert "sent 0, invalid 2" in refused.stdout

    sent = run_cli(
        "produce",
        str(mixed),
        "--skip-invalid",
        "--broker",
        any_bootstrap,
        "--topics",
        str(topics_dir),
    )
    assert sent.returncode == 1  # still non-zero: some lines were invalid
    assert f"sent {len(VALID)}, invalid 2" in sent.stdout

    for topic, expected in _expected_by_topic(catalog).items():
        got = asyncio.run(read_all(any_bootstrap, topic, len(expected)))
        assert sorted(got) == sorted(expected), topic


def test_produce_stdin_all_valid(embedded_bootstrap: str, topics_dir: Path) -> None:
    """Valid JSON lines on stdin are all sent and the exit code is 0."""
    applied(embedded_bootstrap, topics_dir)
    text = "\n".join(orjson.dumps(factories.arrival(f"s{i}")).decode() for i in range(5))
    out = run_cli(
        "produce", "-", "--broker", embedded_bootstrap, "--topics", str(topics_dir), stdin=text
    )
    assert out.returncode == 0, out.stderr
    assert "sent 5, invalid 0" in out.stdout


def test_kcat_reads_what_produce_sent(
    kafka_bootstrap: str, topics_dir: Path, tmp_path: Path
) -> None:
    """kcat, a third-party client, consumes the same events with the same keys."""
    assert shutil.which("kcat"), "kcat must be installed (apt-get install kcat); .ci/run does it"
    catalog = applied(kafka_bootstrap, topics_dir)
    path = _write_lines(tmp_path / "valid.jsonl", VALID)
    assert (
        run_cli(
            "produce", str(path), "--broker", kafka_bootstrap, "--topics", str(topics_dir)
        ).returncode
        == 0
    )
    for topic, expected in _expected_by_topic(catalog).items():
        out = subprocess.run(
            [
                "kcat",
                "-C",
                "-b",
                kafka_bootstrap,
                "-t",
                topic,
                "-o",
                "beginning",
                "-e",
                "-q",
                "-f",
                "%k\t%s\n",
            ],
            capture_output=True,
            timeout=60,
            check=True,
        )
        got = sorted(tuple(line.split(b"\t", 1)) for line in out.stdout.splitlines() if line)
        assert got == sorted(expected), topic


def test_produce_refuses_datasets_and_models_without_a_policy(
    embedded_bootstrap: str, topics_dir: Path
) -> None:
    """A typo in a dataset or model name is said by `produce`, before anything is sent, with the
    code the worker would give it; --allow-unknown sends such events anyway."""
    applied(embedded_bootstrap, topics_dir)
    lines = [
        factories.arrival("u1", dataset="clickz"),
        factories.model_update("u2", model="churm"),
        factories.arrival("u3", dataset="clicks"),
        factories.override("u4", subject="frod:v1"),
    ]
    text = "\n".join(orjson.dumps(o).decode() for o in lines)
    common = ["--broker", embedded_bootstrap, "--topics", str(topics_dir)]
    refused = run_cli("produce", "-", *common, stdin=text)
    assert refused.returncode == 1 and "sent 0, invalid 3" in refused.stdout
    assert "line 1: E_UNKNOWN_DATASET: field 'dataset': no policy for dataset 'clickz'" in (
        refused.stderr
    )
    assert "line 2: E_UNKNOWN_MODEL: field 'model'" in refused.stderr
    assert "line 4: E_UNKNOWN_MODEL: field 'subject'" in refused.stderr
    assert "--allow-unknown" in refused.stderr
    allowed = run_cli("produce", "-", "--allow-unknown", *common, stdin=text)
    assert allowed.returncode == 0 and "sent 4, invalid 0" in allowed.stdout, allowed.stderr
    catalog = Catalog.load(topics_dir)
    got = asyncio.run(read_all(embedded_bootstrap, catalog.name("arrivals"), 2))
    assert sorted(k for k, _ in got) == [b"clicks", b"clickz"]
