"""Progress of long work: a line redrawn in place on a terminal, a log line every few seconds
otherwise, nothing for quick work; replay's forked readers add to the same count. The demo's
progress says what the worker is doing, and the demo ends with what to do next."""

from __future__ import annotations

import io
import socket
import subprocess
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from orchestrator.catalog.topics import Catalog
from orchestrator.demo import DemoError, not_ready_reason, wait_ready, what_next, worker_status
from orchestrator.policies import Policies
from orchestrator.progress import CountedSource, Progress, counted
from orchestrator.replay import MemorySource, Range, replay
from tests.conftest import ROOT
from tests.unit.replay_support import topics


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_on_a_terminal_one_line_is_redrawn_and_ended() -> None:
    """Carriage return and clear-to-end per redraw, never before `first_s`; a newline at the end."""
    out, clock = io.StringIO(), Clock()
    p = Progress("produce: events sent", 1000, out=out, tty=True, clock=clock)
    p._started = clock.now
    p.add(100)
    assert p.tick(100.3, 100.0) == 100.0 and out.getvalue() == ""  # before first_s
    clock.now = 102.0
    assert p.tick(102.0, 100.0) == 102.0
    assert out.getvalue() == "\rproduce: events sent: 100/1,000 (10%), 50/s, 2 s\x1b[K"
    assert p.tick(102.1, 102.0) == 102.0  # not again within redraw_s
    p.__exit__(None, None, None)
    assert out.getvalue().endswith("\rproduce: events sent: 100/1,000 (10%), 50/s, 2 s\x1b[K\n")


def test_elsewhere_a_log_line_every_few_seconds() -> None:
    """Not a terminal: nothing on the stream, a `progress` log line once `every_s` has passed."""
    out = io.StringIO()
    p = Progress("replay: records read", out=out, tty=False, every_s=5.0)
    p._started = 100.0
    p.add(2500)
    with capture_logs() as logs:
        assert p.tick(104.9, 100.0) == 100.0
        assert p.tick(105.0, 100.0) == 105.0
    assert logs == [
        {
            "event": "progress",
            "log_level": "info",
            "task": "replay: records read",
            "done": 2500,
            "total": None,
            "per_s": 500,
            "elapsed_s": 5.0,
        }
    ]
    assert out.getvalue() == ""


@pytest.mark.parametrize("tty", [True, False])
def test_quick_work_shows_nothing(tty: bool) -> None:
    """Work done before the first report prints and logs nothing (tests are never flooded)."""
    out = io.StringIO()
    with capture_logs() as logs, Progress("x", out=out, tty=tty) as p:
        for _ in counted(iter(range(10)), p):
            pass
    assert p.done == 10 and out.getvalue() == "" and logs == []


@pytest.mark.parametrize("processes", [1, 2])
def test_replay_counts_every_record_it_reads(processes: int) -> None:
    """Wrapped around replay's source, the count covers every topic read, forked readers too."""
    data = topics()
    with Progress("replay", out=io.StringIO(), tty=False) as progress:
        report = replay(
            CountedSource(MemorySource(data, chunk=4), progress),
            Catalog.load(ROOT / "topics"),
            Policies.load(ROOT / "gates"),
            {},
            Range(),
            processes=processes,
        )
    with report:
        assert report.ok
    assert progress.done == sum(len(r) for parts in data.values() for r in parts.values())


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"ready": False, "broker_reachable": False}, "worker waiting for the broker"),
        (
            {
                "ready": False,
                "arrivals": {"assigned": True, "recovering": ["s[0]", "s[1]"]},
                "models": {"assigned": False, "recovering": []},
            },
            "worker recovering state (2 partitions)",
        ),
        (
            {"ready": False, "arrivals": {"assigned": False, "recovering": []}},
            "worker joining its consumer groups (partitions not assigned yet)",
        ),
        (
            {"ready": False, "commands_verifiable": False},
            "worker cannot verify commands (see its log)",
        ),
        ({"ready": False}, "waiting for the worker to be ready"),
    ],
)
def test_the_demo_says_what_the_worker_is_doing(body: dict[str, object], said: str) -> None:
    """The demo's progress reads the worker's /readyz body into words."""
    assert not_ready_reason(body) == said


def test_the_demo_without_a_worker_port_answering_is_waiting_for_it_to_start() -> None:
    """No HTTP on the worker's port yet: the worker is still starting."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    assert worker_status(port) == (
        False,
        "waiting for the worker to start (its HTTP port is not up yet)",
    )


@pytest.mark.parametrize("kept", [True, False])
def test_the_demo_ends_with_what_next(kept: bool) -> None:
    """Audit history of a real window, champion now, replay, Grafana; how to keep it first."""
    text = "\n".join(what_next(kept, "clicks/2026-11-23T00:00:00Z/PT1H", Path(".run")))
    assert "orchestrator audit history clicks/2026-11-23T00:00:00Z/PT1H" in text
    assert "orchestrator audit champion churn --at now" in text
    assert "orchestrator replay --since -1h" in text
    assert "docker compose up --build" in text and "http://127.0.0.1:3000" in text
    assert ("orchestrator demo --keep" in text) is not kept
    assert ("orchestrator dev --stop" in text) is kept
    assert "activate" not in text
    told = what_next(kept, None, Path(".run"), ".venv/bin/activate")
    assert told[1].startswith("  . .venv/bin/activate ") and "on PATH" in told[1]


def test_the_demo_says_how_to_put_orchestrator_on_path(tmp_path: Path) -> None:
    """After `make demo` the venv's `orchestrator` is not on PATH: the demo says to activate
    it; where PATH already finds this environment's `orchestrator` it says nothing."""
    from orchestrator.demo_summary import activate_hint

    bindir = tmp_path / "venv" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "activate").write_text("# activate\n")
    (bindir / "orchestrator").write_text("#!/bin/sh\n")
    (bindir / "orchestrator").chmod(0o755)
    python = str(bindir / "python")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert activate_hint(path=str(elsewhere), executable=python) == str(bindir / "activate")
    assert activate_hint(path=str(bindir), executable=python) is None
    assert activate_hint(path=str(bindir), executable=str(elsewhere / "python")) is None


def test_the_demo_gives_up_on_a_worker_that_never_gets_ready_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Past --timeout the demo stops with what the worker was doing and where its log is."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    alive = subprocess.Popen(["sleep", "30"])
    try:
        with pytest.raises(DemoError) as info:
            wait_ready(port, [alive], timeout_s=0)
    finally:
        alive.kill()
        alive.wait()
    assert str(info.value) == (
        "the worker was not ready within 0 s (waiting for the worker to start (its HTTP port is "
        "not up yet)); see .run/demo-worker.log, or give it longer with --timeout"
    )
    assert capsys.readouterr().out == (
        "[demo]   waiting for the worker to start (its HTTP port is not up yet) (0 s)\n"
    )
    dead = subprocess.Popen(["true"])
    dead.wait()
    with pytest.raises(DemoError, match="a demo process exited early"):
        wait_ready(port, [dead], timeout_s=60)
