"""A/B: the worker (L6) and replay of this checkout against another revision, on one broker and
the same events, in alternating rounds, so that the machine's drift hits both alike.

    .venv/bin/python -m bench.ab --baseline REV [--events N] [--rounds K] [--broker HOST:PORT]

The baseline runs from a git worktree of REV (its own code, topics and Python path); both use
this checkout's virtualenv. The baseline's core is compiled by its own `scripts/build_core.py`
(where it has one) so that both sides run the build users run; with ORCH_PURE_CORE=1 both run
the pure-Python core. Prints, per side, the median worker events/s and CPU µs/event and
replay events/s and peak RSS (`replay --processes 1`), and the ratios HEAD / baseline."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

from bench import ROOT, log
from bench.broker import own_kafka
from bench.procs import replay_process, worker_run
from bench.results import ReplayProcessRun, WorkerRun
from bench.workload import EventSource, make_gates, make_topics, produce
from orchestrator.kafka.connect import connection
from orchestrator.settings import Settings


class Round(TypedDict):
    """One side's run in one round: its worker, and replay in one process."""

    L6: WorkerRun
    replay: ReplayProcessRun


def worktree(rev: str, tmp: Path) -> Path:
    path = tmp / "baseline"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(path), rev],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return path


def compile_core(root: Path) -> None:
    """The core of the checkout at `root` compiled by its own build script (where it has one),
    unless ORCH_PURE_CORE=1 (then both sides run pure Python)."""
    if os.environ.get("ORCH_PURE_CORE", "") not in ("", "0"):
        return
    if (root / "scripts/build_core.py").exists():
        log(f"compiling the core of {root} (its own scripts/build_core.py) ...")
        run_module(root, "scripts.build_core")


def run_in(root: Path, *args: str) -> str:
    """`python ARGS` with the code of the checkout at `root` (this virtualenv's packages);
    its standard output."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def run_module(root: Path, *argv: str) -> None:
    """`python -m ARGV` with the code of the checkout at `root`."""
    run_in(root, "-m", *argv)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    ap.add_argument("--baseline", required=True, help="git revision to compare with")
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--broker", help="use this Kafka instead of starting deploy/kafka")
    ap.add_argument(
        "--guarantee", choices=["at_least_once", "exactly_once"], default="at_least_once"
    )
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    base = worktree(args.baseline, tmp)
    compile_core(base)
    gates = make_gates(tmp / "gates")
    sides = {"baseline": base, "head": ROOT}
    results: dict[str, list[Round]] = {name: [] for name in sides}
    with contextlib.ExitStack() as stack:
        # the worktree goes last, whatever happens: after the broker has stopped
        stack.callback(
            subprocess.run, ["git", "worktree", "remove", "--force", str(base)], cwd=ROOT
        )
        bootstrap, _ = stack.enter_context(own_kafka(tmp, args.broker))
        conn = connection(Settings(), bootstrap)
        for r in range(args.rounds):
            for name, root in sides.items():
                log(f"round {r + 1}/{args.rounds}: {name} ...")
                prefix = f"ab-{name}-{r}-{time.time_ns() % 10**8}"
                topics = make_topics(tmp / prefix, prefix, args.partitions, root)
                # each side's own catalog, applied by its own code (catalogs differ by revision)
                run_module(
                    root,
                    "orchestrator",
                    "topics",
                    "apply",
                    "--broker",
                    bootstrap,
                    "--topics",
                    str(topics),
                )
                arrivals = f"{prefix}.data.arrivals"
                asyncio.run(produce(conn, arrivals, EventSource(), args.events))
                l6, _, worker = worker_run(
                    conn, topics, gates, tmp, args.events, prefix, [], args.guarantee, root=root
                )
                worker.stop()
                rp = replay_process(conn, topics, gates, tmp, root)
                results[name].append(Round(L6=l6, replay=rp))

    def med(name: str, figure: Callable[[Round], float]) -> float:
        return float(statistics.median(figure(run) for run in results[name]))

    rows: list[tuple[str, Callable[[Round], float]]] = [
        ("worker events/s", lambda run: run["L6"]["events_per_s"]),
        ("worker CPU µs/event", lambda run: run["L6"]["cpu_us_per_event"]),
        ("replay events/s (1 process)", lambda run: run["replay"]["events_per_s"]),
        ("replay peak RSS MB", lambda run: run["replay"]["peak_rss_mb"]),
    ]
    print(
        f"A/B: {args.events} events, {args.rounds} rounds, baseline {args.baseline}, "
        f"worker {args.guarantee}"
    )
    print(f"{'':30} {'baseline':>10} {'head':>10} {'head/baseline':>14}")
    for label, figure in rows:
        b, h = med("baseline", figure), med("head", figure)
        print(f"{label:30} {b:>10.1f} {h:>10.1f} {h / b:>14.2f}")
    matched = all(run["replay"]["matched"] for runs in results.values() for run in runs)
    print(f"replay matched in every run: {matched}")
    return 0 if matched else 1


if __name__ == "__main__":
    sys.exit(main())
