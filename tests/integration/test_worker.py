"""The worker end to end on real brokers: windows, late and dlq match the core; SIGKILL loses nothing."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from orchestrator.catalog.topics import Catalog
from orchestrator.kafka.clients import Connection
from orchestrator.policies import Policies
from orchestrator.produce import send_raw
from orchestrator.testing import wait_for
from tests import scenario
from tests.conftest import ROOT, caught_up, make_catalog, run_cli
from tests.integration.support import make_worker, observed, read, write_lines

MALFORMED: list[tuple[bytes | None, bytes]] = [
    (b"clicks", b"\x00\xffnot json"),
    (b"clicks", orjson.dumps({"type": "data.arrival", "v": 9, "event_id": "bad-v"})),
    (
        b"payments",
        orjson.dumps(
            {"type": "data.arrival", "v": 1, "event_id": "bad-schema", "dataset": "payments"}
        ),
    ),
    (b"clicks", orjson.dumps({**scenario._a("bad-key", "payments", "pos", "10:00:00")})),
]


@pytest.mark.parametrize("broker", ["kafka", "embedded"])
def test_worker_matches_core_and_survives_sigkill(
    broker: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Outputs equal the core's; after SIGKILL and restart every window fires with the same
    ids, revisions and digests, nothing is lost and nothing conflicts; bad input goes to the dlq."""
    bootstrap = request.getfixturevalue(f"{broker}_bootstrap")
    prefix = f"w{uuid.uuid4().hex[:8]}"
    topics = make_catalog(tmp_path / "topics", prefix, partitions=3)
    assert (
        run_cli("topics", "apply", "--broker", bootstrap, "--topics", str(topics)).returncode == 0
    )
    catalog = Catalog.load(topics)
    events = scenario.events()
    want = scenario.expected(Policies.load(ROOT / "gates").dataset_specs(), events)
    half = len(events) // 2

    worker = make_worker(bootstrap, topics, prefix, tmp_path / "worker.log")
    worker.start()
    try:
        out = run_cli(
            "produce",
            "--allow-unknown",  # the scenario's unknown dataset is the worker's to refuse
            str(write_lines(tmp_path / "a.jsonl", events[:half])),
            "--broker",
            bootstrap,
            "--topics",
            str(topics),
        )
        assert out.returncode == 0, out.stderr
        asyncio.run(send_raw(Connection(bootstrap), catalog.name("arrivals"), MALFORMED))
        wait_for(lambda: len(observed(bootstrap, catalog)["windows"]) >= 1)
        worker.kill()

        out = run_cli(
            "produce",
            "--allow-unknown",  # the scenario's unknown dataset is the worker's to refuse
            str(write_lines(tmp_path / "b.jsonl", events[half:])),
            "--broker",
            bootstrap,
            "--topics",
            str(topics),
        )
        assert out.returncode == 0, out.stderr
        worker.start()
        wait_for(
            lambda: set(observed(bootstrap, catalog)["windows"]) >= set(want["windows"]),
            timeout=120,
        )
        # every input's outputs are acknowledged once its offset is committed: nothing more
        wait_for(lambda: caught_up(bootstrap, f"{prefix}-eventtime", [catalog.name("arrivals")]))
        got = observed(bootstrap, catalog)
    finally:
        worker.stop()
    log = (tmp_path / "worker.log").read_text()
    assert got["conflicts"] == [], log[-3000:]
    assert got["windows"] == want["windows"]
    assert got["late"] == want["late"]
    dlq_codes = sorted({(r["code"], r.get("event_id")) for r in got["dlq"]}, key=str)
    assert ("E_DUPLICATE_CONFLICT", "c10-2") in dlq_codes
    assert ("E_UNKNOWN_DATASET", "x-1") in dlq_codes
    assert {"E_DECODE", "E_UNKNOWN_TYPE", "E_SCHEMA", "E_KEY_MISMATCH"} <= {c for c, _ in dlq_codes}
    assert len(dlq_codes) == len(MALFORMED) + len(want["dlq"])
    for record in got["dlq"]:
        assert record["topic"] == catalog.name("arrivals") and record["original"]


def test_second_worker_takes_over_partitions_mid_stream(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Scale out while events flow: the first worker checkpoints and gives up partitions, the
    second rebuilds them from the changelog and resumes at the stored position; then the first
    stops and the second takes everything. Outputs equal the core's, with no conflicts."""
    prefix = f"s{uuid.uuid4().hex[:8]}"
    topics = make_catalog(tmp_path / "topics", prefix, partitions=3)
    assert (
        run_cli("topics", "apply", "--broker", kafka_bootstrap, "--topics", str(topics)).returncode
        == 0
    )
    catalog = Catalog.load(topics)
    events = scenario.events()
    want = scenario.expected(Policies.load(ROOT / "gates").dataset_specs(), events)
    third = len(events) // 3
    a = make_worker(kafka_bootstrap, topics, prefix, tmp_path / "a.log")
    b = make_worker(kafka_bootstrap, topics, prefix, tmp_path / "b.log")

    def produce(name: str, part: list[dict[str, Any]]) -> None:
        out = run_cli(
            "produce",
            "--allow-unknown",  # the scenario's unknown dataset is the worker's to refuse
            str(write_lines(tmp_path / name, part)),
            "--broker",
            kafka_bootstrap,
            "--topics",
            str(topics),
        )
        assert out.returncode == 0, out.stderr

    a.start()
    try:
        produce("1.jsonl", events[:third])
        # the first third is in a's state (checkpointed to the changelog) before b joins
        wait_for(lambda: len(read(kafka_bootstrap, catalog.name("eventtime_state"))) >= third)
        b.start()
        wait_for(lambda: '"partition recovered"' in (tmp_path / "b.log").read_text(), timeout=90)
        produce("2.jsonl", events[third : 2 * third])
        a.stop()  # graceful: checkpoint, leave the group; b gets every partition
        produce("3.jsonl", events[2 * third :])
        wait_for(
            lambda: set(observed(kafka_bootstrap, catalog)["windows"]) >= set(want["windows"]),
            timeout=120,
        )
        wait_for(
            lambda: caught_up(kafka_bootstrap, f"{prefix}-eventtime", [catalog.name("arrivals")])
        )
        got = observed(kafka_bootstrap, catalog)
    finally:
        a.stop()
        b.stop()
    logs = (tmp_path / "a.log").read_text()[-2000:] + (tmp_path / "b.log").read_text()[-2000:]
    assert got["conflicts"] == [], logs
    assert got["windows"] == want["windows"], logs
    assert got["late"] == want["late"]
