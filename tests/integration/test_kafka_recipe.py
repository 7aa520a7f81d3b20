"""deploy/kafka/kafka.sh starts a real broker that answers, and stops it cleanly."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

from orchestrator.kafka.capabilities import supports_idempotence
from orchestrator.kafka.clients import Connection
from tests.conftest import KAFKA_SH


def test_start_answers_and_stop_leaves_no_process(tmp_path: Path) -> None:
    """The recorded pid is the broker's; after stop it is gone and the log shows a clean shutdown."""
    run = tmp_path / "k"
    out = subprocess.run(
        ["bash", str(KAFKA_SH), "start", str(run)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    bootstrap = out.stdout.strip().splitlines()[-1]
    assert bootstrap.startswith("127.0.0.1:")
    pid = int((run / "kafka.pid").read_text())
    try:
        assert asyncio.run(supports_idempotence(Connection(bootstrap))) is True
        assert "kafka.Kafka" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    finally:
        started = time.monotonic()
        subprocess.run(["bash", str(KAFKA_SH), "stop", str(run)], timeout=120, check=True)
        stopped_in = time.monotonic() - started
    assert not Path(f"/proc/{pid}").exists()
    assert stopped_in < 30  # SIGTERM was enough: the SIGKILL fallback comes only after 30 s
    assert "shut down completely" in (run / "kafka.log").read_text()
