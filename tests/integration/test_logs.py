"""A real worker's log on a pipe: every line one JSON object naming the worker, no terminal bytes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import orjson

from orchestrator.catalog.topics import Catalog
from orchestrator.kafka.clients import Connection
from orchestrator.logging import MAX_FIELD_CHARS
from orchestrator.produce import send_raw
from orchestrator.testing import wait_for
from tests.conftest import run_cli
from tests.integration.support import EXAMPLE_KEY_ENV, http, make_worker

#: nothing listens there: aiokafka logs (stdlib, logger "aiokafka") each failed bootstrap try
DEAD = "127.0.0.1:1,127.0.0.1:2"


def test_worker_log_on_a_pipe_is_json_lines_only(
    embedded_bootstrap: str, topics_dir: Path, tmp_path: Path
) -> None:
    """Started with stderr on a pipe (the default format, `auto`), the worker writes only JSON
    objects, one per line: its own lines and the libraries' (aiokafka's failed connections to
    the dead bootstrap addresses listed first), each with worker_id, host and app_id; no Faust
    spinner bytes; a 10k-character event id does not make a line long."""
    assert (
        run_cli(
            "topics", "apply", "--broker", embedded_bootstrap, "--topics", str(topics_dir)
        ).returncode
        == 0
    )
    log = tmp_path / "worker.log"
    bootstrap = f"{DEAD},{embedded_bootstrap}"
    worker = make_worker(bootstrap, topics_dir, "logs-test", log, env=EXAMPLE_KEY_ENV)
    worker.env.pop("ORCHESTRATOR_LOG_FORMAT")  # the default, `auto`
    worker.start()
    try:
        wait_for(lambda: http(f"http://127.0.0.1:{worker.port}/readyz")[0] == 200, timeout=90)
        arrivals = Catalog.load(topics_dir).name("arrivals")
        long_id = {"type": "data.arrival", "v": 1, "event_id": "x" * 10_000, "dataset": "clicks"}
        asyncio.run(
            send_raw(
                Connection(embedded_bootstrap),
                arrivals,
                [(b"clicks", orjson.dumps(long_id)), (b"clicks", b"\x1b[?25h not json")],
            )
        )
        wait_for(lambda: log.read_bytes().count(b'"invalid input"') >= 2, timeout=60)
    finally:
        worker.stop()
    assert worker.proc is not None and worker.proc.returncode == 0
    raw = log.read_bytes()
    assert not [b for b in raw if (b < 0x20 and b != 0x0A) or b == 0x7F]
    lines = raw.decode("utf-8").splitlines()
    objs = [json.loads(line) for line in lines]
    assert objs and all(isinstance(o, dict) for o in objs)
    for o in objs:
        assert o["app_id"] == "logs-test" and o["host"] and o["worker_id"], o
    assert len({o["worker_id"] for o in objs}) == 1
    assert any(o.get("logger", "").startswith("aiokafka") for o in objs)
    assert max(len(line) for line in lines) < 4 * MAX_FIELD_CHARS
