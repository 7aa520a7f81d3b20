"""Processes the fault tests start, kill and restart by their own pids: an Apache Kafka broker
of their own (deploy/kafka), workers (orchestrator.testing.Worker), and a producer that keeps
sending while things fail."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer

from orchestrator.catalog.topics import Catalog
from orchestrator.testing import KafkaBroker, Worker, wait_for
from tests.chaos.workload import KEY_ENV, Record
from tests.conftest import ROOT, caught_up

#: the broker of the fault tests (restartable with its data and port, killed by its pid)
Broker = KafkaBroker


#: every worker process started by a test, for the teardown to kill what is left
STARTED: list[subprocess.Popen[bytes]] = []
#: what every worker of the fault tests runs with: the workload's keys, and short client
#: time-outs (the fault tests wait for them)
WORKER_ENV = {
    **KEY_ENV,
    "ORCHESTRATOR_KAFKA_REQUEST_TIMEOUT_MS": "5000",
    "ORCHESTRATOR_KAFKA_SESSION_TIMEOUT_MS": "6000",
}


def chaos_worker(
    bootstrap: str,
    topics: Path,
    gates: Path,
    app_id: str,
    log: Path,
    *,
    guarantee: str = "at_least_once",
    env: dict[str, str] | None = None,
) -> Worker:
    """A worker of the fault tests: run from the repository, registered in STARTED, given a
    minute to stop cleanly."""
    return Worker(
        bootstrap,
        topics,
        gates,
        app_id,
        log,
        env={**WORKER_ENV, **(env or {})},
        args=["--processing-guarantee", guarantee],
        cwd=ROOT,
        stop_timeout=60,
        started=STARTED,
    )


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
    app, bootstrap = worker.app_id, worker.bootstrap
    assert bootstrap is not None
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

    try:
        wait_for(done, timeout, "the worker to catch up", every=1.0)
    except AssertionError as exc:  # what the worker said and knew, for whoever reads CI
        behind = [group for group, topics in groups if not caught_up(bootstrap, group, topics)]
        raise AssertionError(
            f"{exc}; alive={worker.alive}; readyz={worker.readyz()}; groups behind={behind}; "
            f"the worker's last words:\n{last_words(worker.log)}"
        ) from None


def last_words(log: Path, n: int = 40) -> str:
    """The worker's own log lines (not its Kafka client's), the last `n`."""
    if not log.exists():
        return "(no log)"
    mine = [
        line
        for line in log.read_text(errors="replace").splitlines()
        if '"logger": "aiokafka' not in line and '"event": "decision"' not in line
    ]
    return "\n".join(line[:400] for line in mine[-n:])
