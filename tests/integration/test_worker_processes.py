"""`orchestrator worker --processes N` on Apache Kafka: N processes share the partitions as
members of one group, their outputs equal the core's (replay MATCH), a SIGTERM stops all of
them cleanly, and a child that dies takes the set down with a non-zero exit."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import pytest

from orchestrator.catalog.topics import Catalog
from orchestrator.policies import Policies
from orchestrator.testing import Worker, wait_for
from tests import scenario
from tests.conftest import ROOT, caught_up, make_catalog, run_cli
from tests.integration.support import EXAMPLE_KEY_ENV, make_worker, observed, read, write_lines


def children(pid: int) -> list[int]:
    """The pids of `pid`'s child processes."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def started_set(bootstrap: str, tmp_path: Path, partitions: int = 2) -> tuple[Worker, list[int]]:
    """`worker --processes 2` started, its two processes running and process 0 answering:
    the supervisor and the children's pids."""
    prefix = f"q{uuid.uuid4().hex[:8]}"
    topics = make_catalog(tmp_path / "topics", prefix, partitions=partitions)
    worker = make_worker(
        bootstrap,
        topics,
        prefix,
        tmp_path / "worker.log",
        env=EXAMPLE_KEY_ENV,
        args=["--processes", "2", "--apply-topics"],
    )
    worker.start()
    proc = worker.proc
    assert proc is not None
    try:
        wait_for(lambda: len(children(proc.pid)) == 2, timeout=30, every=0.2)
        wait_for(lambda: worker.readyz() is not None, timeout=90, what="process 0 answering")
    except BaseException:
        worker.stop()
        raise
    return worker, children(proc.pid)


def test_processes_share_the_group_and_match_the_core(kafka_bootstrap: str, tmp_path: Path) -> None:
    # --apply-topics: the supervisor applies the catalog once, before its processes start.
    # Four partitions: the scenario's datasets land on 0 and 3, which the group's assignment
    # gives to different members (range and round robin alike)
    worker, kids = started_set(kafka_bootstrap, tmp_path, partitions=4)
    prefix, topics = worker.app_id, tmp_path / "topics"
    catalog = Catalog.load(topics)
    events = scenario.events()
    want = scenario.expected(Policies.load(ROOT / "gates").dataset_specs(), events)
    ports = [worker.port, worker.port + 1]
    assert worker.proc is not None
    try:

        def ready(port: int) -> bool:
            worker.port = port
            answer = worker.readyz()
            return bool(answer and answer.get("ready"))

        wait_for(lambda: all(ready(p) for p in ports), timeout=90, what="both processes ready")
        out = run_cli(
            "produce",
            "--allow-unknown",  # the scenario's unknown dataset is the worker's to refuse
            str(write_lines(tmp_path / "events.jsonl", events)),
            "--broker",
            kafka_bootstrap,
            "--topics",
            str(topics),
        )
        assert out.returncode == 0, out.stderr
        wait_for(
            lambda: set(observed(kafka_bootstrap, catalog)["windows"]) >= set(want["windows"]),
            timeout=120,
        )
        wait_for(
            lambda: caught_up(kafka_bootstrap, f"{prefix}-eventtime", [catalog.name("arrivals")])
        )
        per_process = []
        for port in ports:
            worker.port = port
            per_process.append(
                worker.metric("orchestrator_events_total", f'topic="{catalog.name("arrivals")}"')
            )
        got = observed(kafka_bootstrap, catalog)
        arrivals = read(kafka_bootstrap, catalog.name("arrivals"))
        replayed = run_cli(
            "replay", "--broker", kafka_bootstrap, "--topics", str(topics), env=EXAMPLE_KEY_ENV
        )
        # a clean stop: SIGTERM to the supervisor reaches every process, all exit 0
        worker.proc.send_signal(signal.SIGTERM)
        code = worker.proc.wait(timeout=60)
    finally:
        worker.stop()
    log = (tmp_path / "worker.log").read_text()
    assert code == 0, log[-3000:]
    assert not any(alive(k) for k in kids)
    # each process took a share of the partitions, and together they saw every record once
    assert all(n > 0 for n in per_process), (per_process, log[-3000:])
    assert sum(per_process) == len(arrivals)
    assert got["conflicts"] == [], log[-3000:]
    assert got["windows"] == want["windows"]
    assert got["late"] == want["late"]
    assert replayed.returncode == 0, replayed.stdout[-2000:] + replayed.stderr[-2000:]
    assert "MATCH" in replayed.stdout


def test_a_process_that_dies_stops_the_set(kafka_bootstrap: str, tmp_path: Path) -> None:
    worker, (first, second) = started_set(kafka_bootstrap, tmp_path)
    assert worker.proc is not None
    try:
        os.kill(first, signal.SIGKILL)
        code = worker.proc.wait(timeout=60)
    finally:
        worker.stop()
    log = (tmp_path / "worker.log").read_text()
    assert code != 0
    assert not alive(second), log[-2000:]
    assert "a worker process ended on its own" in log


def test_supervisor_killed_takes_its_processes(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Even a SIGKILL of the supervisor leaves no worker process behind."""
    worker, kids = started_set(kafka_bootstrap, tmp_path)
    try:
        worker.kill()
        wait_for(lambda: not any(alive(k) for k in kids), timeout=45, every=0.5)
    finally:
        worker.stop()
        for k in kids:
            if alive(k):
                os.kill(k, signal.SIGKILL)


@pytest.mark.parametrize(
    ("value", "reason"),
    [("0", "must be 1 or more, not 0"), ("many", "must be a whole number or 'auto'")],
)
def test_bad_process_count_is_one_line(value: str, reason: str, tmp_path: Path) -> None:
    out = run_cli("worker", "--broker", "127.0.0.1:1", "--processes", value)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "--processes" in out.stderr and reason in out.stderr
    assert "Traceback" not in out.stderr


def test_a_taken_port_of_any_process_is_refused(kafka_bootstrap: str, tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run_cli(
            "worker",
            "--broker",
            kafka_bootstrap,
            "--processes",
            "2",
            "--web-port",
            str(port - 1),
            env=EXAMPLE_KEY_ENV,
        )
    assert out.returncode == 2, out.stderr
    assert f"127.0.0.1:{port} is already in use" in out.stderr


def test_a_bad_supervisor_pid_is_one_line(tmp_path: Path) -> None:
    out = run_cli("worker", "--broker", "127.0.0.1:1", env={"ORCHESTRATOR_WORKER_SUPERVISOR": "x1"})
    assert out.returncode == 2, out.stderr
    assert "ORCHESTRATOR_WORKER_SUPERVISOR" in out.stderr and "Traceback" not in out.stderr
    assert out.stderr.count("\n") == 1
