"""`orchestrator worker --processes N`: N worker processes on one machine.

Each process is a whole worker (`orchestrator worker` with the same settings) and a member of
the same consumer groups (one app id), so the input partitions are shared among them exactly as
among N workers on N machines: the guarantees, the fencing of a stalled member and the
rebalancing are the same. Process i serves /metrics, /healthz and /readyz on `web_port + i`
(a web port of 0: each its own free port). This process only starts them and waits:

- SIGTERM or SIGINT is passed on to every child; each stops cleanly (its last checkpoint) and
  this process exits when all have, with the first non-zero exit code among them;
- a child that exits on its own (a fatal error, a kill) stops the rest and ends this process
  with its exit code, so that whatever restarts the service (systemd, Kubernetes) restarts the
  whole set; the others' partitions were theirs to hand back cleanly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

import structlog

log = structlog.get_logger("orchestrator.worker")

#: a child still running this long after SIGTERM is killed
STOP_GRACE_S = 30.0
#: how often the children are looked at
POLL_S = 0.2
#: set in each child's environment: the supervisor's pid
SUPERVISOR_ENV = "ORCHESTRATOR_WORKER_SUPERVISOR"
#: the command-line flags the parent handles itself (with whether they take a value)
OWN_FLAGS = {"--processes": True, "--web-port": True, "--apply-topics": False}


def resolve(value: str) -> int:
    """`--processes`: a count of 1 or more, or `auto` (one per CPU this process may use)."""
    if value == "auto":
        return len(os.sched_getaffinity(0))
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"must be a whole number or 'auto', not {value!r}") from None
    if n < 1:
        raise ValueError(f"must be 1 or more, not {n}")
    return n


def child_argv(given: Sequence[str], web_port: int) -> list[str]:
    """The worker's command line for one child: the parent's, without the flags the parent
    handles (process count, topic apply: done once, before the children start), and the
    child's own web port."""
    out: list[str] = []
    skip = False
    for arg in given:
        if skip:
            skip = False
            continue
        name, eq, _ = arg.partition("=")
        if name in OWN_FLAGS:
            skip = OWN_FLAGS[name] and not eq
            continue
        out.append(arg)
    return [sys.executable, "-m", "orchestrator", *out, "--web-port", str(web_port)]


def ports(base: int, n: int) -> list[int]:
    """Each child's web port: consecutive from `base` (0: every child picks a free one)."""
    return [0] * n if base == 0 else [base + i for i in range(n)]


def supervise(commands: Sequence[list[str]]) -> int:
    """Start one child per command, pass SIGTERM/SIGINT on, and return when every child has
    stopped: 0 if all stopped cleanly when told, else the first non-zero exit code."""
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    children: list[subprocess.Popen[bytes]] = []
    try:
        for i, cmd in enumerate(commands):
            # a Ctrl-C in a terminal reaches the whole process group: the children are told
            # once, by us, so each is in a session of its own
            env = {**os.environ, SUPERVISOR_ENV: str(os.getpid())}
            children.append(subprocess.Popen(cmd, start_new_session=True, env=env))
            log.info("worker process started", process=i, pid=children[-1].pid)
        first_exit: tuple[int, int] | None = None  # (index, code) of the first child to end
        while not stopping:
            for i, child in enumerate(children):
                code = child.poll()
                if code is not None:
                    first_exit = (i, code)
                    break
            if first_exit is not None:
                break
            time.sleep(POLL_S)
        if first_exit is not None:
            i, code = first_exit
            log.error(
                "a worker process ended on its own: stopping the others",
                process=i,
                pid=children[i].pid,
                exit_code=code,
            )
        codes = stop(children)
        if first_exit is not None:
            return first_exit[1] or 1
        return next((c for c in codes if c not in (0, -signal.SIGTERM)), 0)
    finally:
        stop(children)
        for s, handler in previous.items():
            signal.signal(s, handler)


def follow_supervisor() -> None:
    """In a child, first thing: SIGTERM it when its supervisor dies (even by SIGKILL), so that
    no worker process is left behind without it; a supervisor already gone: stop now."""
    supervisor = os.environ.pop(SUPERVISOR_ENV, None)
    if supervisor is None:
        return
    if not supervisor.isdigit():
        from orchestrator.errors import ConfigError

        raise ConfigError(
            "(environment)", SUPERVISOR_ENV, f"must be the supervisor's pid, not {supervisor!r}"
        )
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != int(supervisor):  # it died before the line above
        raise SystemExit(1)


def stop(children: Sequence[subprocess.Popen[bytes]]) -> list[int]:
    """SIGTERM each child still running, SIGKILL what has not stopped after STOP_GRACE_S;
    their exit codes."""
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    codes = []
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        if child.poll() is None:
            log.error("worker process did not stop: killed", pid=child.pid)
            child.kill()
        codes.append(child.wait())
    return codes
