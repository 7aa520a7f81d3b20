"""Processes the fault tests start, kill and restart by their own pids: an Apache Kafka broker
of their own (deploy/kafka), workers, and a producer that keeps sending while things fail."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from orchestrator.catalog.topics import Catalog
from orchestrator.kafka.embedded import free_port
from tests.chaos.workload import KEY_ENV, Record
from tests.conftest import KAFKA_SH, ROOT, caught_up


class Broker:
    """A single-node Apache Kafka in `run_dir`, restartable with its data and port."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.bootstrap = ""

    def start(self) -> str:
        out = subprocess.run(
            ["bash", str(KAFKA_SH), "start", str(self.run_dir)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if out.returncode != 0:
            raise RuntimeError(f"kafka did not start: {out.stderr[-2000:]}")
        self.bootstrap = out.stdout.strip().splitlines()[-1]
        return self.bootstrap

    @property
    def pid(self) -> int:
        return int((self.run_dir / "kafka.pid").read_text())

    def kill(self) -> None:
        """SIGKILL by the pid we started, and wait until it is gone."""
        pid = self.pid
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        raise RuntimeError(f"kafka {pid} survived SIGKILL")

    def stop(self) -> None:
        """A clean stop (SIGTERM, controlled shutdown)."""
        subprocess.run(["bash", str(KAFKA_SH), "stop", str(self.run_dir)], timeout=120)


#: every worker process started by a test, for the teardown to kill what is left
STARTED: list[subprocess.Popen[bytes]] = []


class Worker:
    """`orchestrator worker` in a subprocess."""

    def __init__(
        self,
        bootstrap: str,
        topics: Path,
        gates: Path,
        app_id: str,
        log: Path,
        *,
        guarantee: str = "at_least_once",
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.args = [
            sys.executable,
            "-m",
            "orchestrator",
            "worker",
            "--broker",
            bootstrap,
            "--topics",
            str(topics),
            "--gates",
            str(gates),
            "--web-port",
            str(self.port),
            "--processing-guarantee",
            guarantee,
        ]
        self.env = {
            **os.environ,
            **KEY_ENV,
            "ORCHESTRATOR_APP_ID": app_id,
            "ORCHESTRATOR_LOG_FORMAT": "json",
            # the fault tests wait for client time-outs: keep them short
            "ORCHESTRATOR_KAFKA_REQUEST_TIMEOUT_MS": "5000",
            "ORCHESTRATOR_KAFKA_SESSION_TIMEOUT_MS": "6000",
            **(env or {}),
        }
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
            )
        STARTED.append(self.proc)
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def freeze(self) -> None:
        """SIGSTOP: the process stays, does nothing, answers nothing (a long GC pause, a VM
        migration, a stopped container)."""
        assert self.proc
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def readyz(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                return dict(json.loads(r.read()))
        except urllib.error.HTTPError as exc:
            return dict(json.loads(exc.read()))
        except OSError:
            return None

    def metric(self, name: str) -> float:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return -1.0
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
        return total


def wait_for(pred: Any, timeout: float, what: str, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


class Load:
    """Sends records in a thread of its own at a fixed rate (or all at once), retrying through
    broker outages: every record is acknowledged by the broker before `join` returns."""

    def __init__(
        self, bootstrap: str, catalog: Catalog, records: list[Record], rate: float | None
    ) -> None:
        self.bootstrap = bootstrap
        self.names = {s.role: s.name for s in catalog}
        self.records = records
        self.rate = rate
        self.sent = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Load:
        self._thread.start()
        return self

    def join(self, timeout: float = 600) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"load still running after {timeout} s ({self.sent} sent)")
        if self.error:
            raise self.error

    def _run(self) -> None:
        try:
            asyncio.run(self._send())
        except BaseException as exc:  # reported by join
            self.error = exc

    async def _send(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_request_size=2 * 1024 * 1024,
            request_timeout_ms=120_000,
        )
        await producer.start()
        try:
            started = time.monotonic()
            futures = []
            for i, (role, key, value) in enumerate(self.records):
                if self.rate:
                    delay = started + i / self.rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                futures.append(await producer.send(self.names[role], value, key=key))
                self.sent = i + 1
            for f in futures:
                await f
        finally:
            await producer.stop()


def settled(worker: Worker, catalog: Catalog, timeout: float = 240) -> None:
    """Wait until the worker is ready and every input record's outputs are acknowledged: each
    of its groups has committed past the last record of its inputs, checked in the order the
    inputs feed each other (arrivals and the router write models.log)."""
    app = worker.env["ORCHESTRATOR_APP_ID"]
    bootstrap = worker.args[worker.args.index("--broker") + 1]
    groups = [
        (f"{app}-eventtime", [catalog.name("arrivals")]),
        (f"{app}-router", [catalog.name("model_updates"), catalog.name("commands")]),
        (f"{app}-models", [catalog.name("model_log")]),
    ]

    def done() -> bool:
        status = worker.readyz()
        return bool(status and status.get("ready")) and all(
            caught_up(bootstrap, group, topics) for group, topics in groups
        )

    wait_for(done, timeout, "the worker to catch up", every=1.0)
