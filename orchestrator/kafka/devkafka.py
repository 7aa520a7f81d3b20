"""The `orchestrator dev` stack's Apache Kafka: the recipe of deploy/kafka (KRaft, one node on
127.0.0.1) with its data directory in the run directory, so that topics, offsets and state
survive `dev --stop` and a restart; `dev --reset` empties it. Used when the broker's jars are
there (`bash deploy/kafka/kafka.sh fetch`, which `make test` runs); otherwise `dev` runs the
embedded broker, memory only."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import orjson

from orchestrator.errors import BrokerError
from orchestrator.kafka.embedded import REGISTRY_FILE

#: the recipe, in a source checkout (the package's parent directory)
RECIPE = Path(__file__).resolve().parents[2] / "deploy" / "kafka"
#: the data directory of dev's Kafka, under the run directory
DATA = "kafka"


def available() -> bool:
    """Whether Apache Kafka can run here: the recipe's jars fetched and a Java runtime."""
    return (RECIPE / "lib" / ".complete").is_file() and shutil.which("java") is not None


def reset(run_dir: Path) -> bool:
    """Forget every topic of dev's Kafka (its data directory); True if there was one."""
    path = run_dir / DATA
    if not path.exists():
        return False
    shutil.rmtree(path)
    return True


class DevKafka:
    """Apache Kafka for `dev`, started by the recipe (the same port every time: clients and
    workers find it again after a restart), registered where the other verbs look."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.dir = run_dir / DATA
        self.bootstrap = ""
        self.pid: int | None = None
        #: as EmbeddedBroker: left running when its starter exits
        self.kept = False

    def start(self) -> str:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        out = subprocess.run(
            ["bash", str(RECIPE / "kafka.sh"), "start", str(self.dir)],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise BrokerError(f"Apache Kafka for dev did not start: {last} (see {self.dir})")
        self.bootstrap = out.stdout.strip().splitlines()[-1]
        self.pid = int((self.dir / "kafka.pid").read_text().strip())
        host, port = self.bootstrap.rsplit(":", 1)
        (self.run_dir / REGISTRY_FILE).write_bytes(
            orjson.dumps({"host": host, "port": int(port), "pid": self.pid, "kind": "kafka"})
        )
        return self.bootstrap

    @property
    def alive(self) -> bool:
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self) -> None:
        """A clean shutdown (SIGTERM: Kafka flushes its log), waited for."""
        pid, self.pid = self.pid, None
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError, ValueError, KeyError):
            reg = self.run_dir / REGISTRY_FILE
            if orjson.loads(reg.read_bytes())["pid"] == pid:
                reg.unlink()
