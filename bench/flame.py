"""The worker's profile: where L6 spends its time, as the top frames of a py-spy flame graph.

    .venv/bin/python -m bench.flame [--events N] [--seconds S] [--baseline REV] [--broker B]

Starts a broker (or uses --broker), produces N bench events, starts the worker on them and,
once it is draining the backlog, samples it with py-spy (200 Hz, `--seconds`). Prints the
worker's rate and CPU per event while sampled, then the functions with the largest inclusive
share (the flame graph's widest frames) and self share of the samples. `--baseline REV` profiles
a git worktree of REV the same way first (its core compiled by its own build script, as
bench.ab does), for a before/after. `--raw DIR` keeps py-spy's collapsed stacks (load them in
speedscope or flamegraph.pl for the picture)."""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import ROOT, log
from bench.ab import compile_core, run_module, worktree
from bench.broker import own_kafka
from bench.procs import WorkerProc
from bench.workload import EventSource, make_gates, make_topics, produce
from orchestrator.kafka.connect import connection
from orchestrator.settings import Settings

PY_SPY = Path(sys.executable).parent / "py-spy"
#: a frame as py-spy writes it: "function (path/to/file.py:line)"
_FRAME = re.compile(r"^(?P<fn>.*) \((?P<path>[^()]*?)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    """`function (package/module.py)`: the path cut to what names the module, no line."""
    m = _FRAME.match(frame)
    if not m:
        return frame
    path = m["path"]
    for anchor in ("/orchestrator/", "/site-packages/", "/python3.11/"):
        if anchor in path:
            path = path.split(anchor, 1)[1]
            if anchor == "/orchestrator/":
                path = "orchestrator/" + path
            break
    return f"{m['fn']} ({path})"


def shares(collapsed: str) -> tuple[collections.Counter[str], collections.Counter[str], int]:
    """Inclusive and self samples per function, and the total, from py-spy's raw output."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [frame_name(f) for f in stack.split(";")]
        for f in set(frames):
            inclusive[f] += n
        own[frames[-1]] += n
    return inclusive, own, total


def profile(
    bootstrap: str, root: Path, tmp: Path, gates: Path, events: int, seconds: float, name: str
) -> tuple[str, float, float]:
    """(collapsed stacks, events/s, CPU µs per event) of the worker of `root` while sampled."""
    conn = connection(Settings(), bootstrap)
    prefix = f"flame-{name}-{time.time_ns() % 10**8}"
    topics = make_topics(tmp / prefix, prefix, 6, root)
    run_module(
        root, "orchestrator", "topics", "apply", "--broker", bootstrap, "--topics", str(topics)
    )
    asyncio.run(produce(conn, f"{prefix}.data.arrivals", EventSource(), events))
    worker = WorkerProc(bootstrap, topics, gates, prefix, tmp / f"{prefix}.log", root=root)
    try:
        worker.wait_events(min(2000, events // 10), timeout=120)
        t0, cpu0, e0 = time.perf_counter(), worker.cpu_s(), worker.events()
        out = tmp / f"{prefix}.txt"
        spy = subprocess.run(
            [
                *(str(PY_SPY), "record", "--pid", str(worker.pid), "--rate", "200"),
                *("--duration", str(int(seconds)), "--format", "raw", "--output", str(out)),
                "--nonblocking",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        t1, cpu1, e1 = time.perf_counter(), worker.cpu_s(), worker.events()
    finally:
        worker.stop()
    if spy.returncode != 0 or not out.exists():
        raise SystemExit(f"py-spy failed: {spy.stderr.strip()[-500:]}")
    if e1 >= events:
        log("the backlog ran out while sampling: give more --events for a steady profile")
    done = max(1.0, e1 - e0)
    return out.read_text(), done / (t1 - t0), (cpu1 - cpu0) / done * 1e6


def report(name: str, collapsed: str, rate: float, cpu_us: float, top: int) -> str:
    inclusive, own, total = shares(collapsed)
    lines = [f"{name}: {rate:.0f} events/s, {cpu_us:.1f} µs CPU per event, {total} samples"]
    lines.append("  inclusive (the flame graph's widest frames):")
    lines += [f"    {n / total:6.1%}  {f}" for f, n in inclusive.most_common(top)]
    lines.append("  self:")
    lines += [f"    {n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.flame", description=__doc__)
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--baseline", help="also profile this git revision, first")
    ap.add_argument("--broker", help="use this Kafka instead of starting deploy/kafka")
    ap.add_argument("--raw", help="keep py-spy's collapsed stacks in this directory")
    args = ap.parse_args(argv)
    if not PY_SPY.exists():
        raise SystemExit(f"{PY_SPY} is missing: `make setup` installs py-spy (the dev extra)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-flame-"))
    gates = make_gates(tmp / "gates")
    sides = [("head", ROOT)]
    with contextlib.ExitStack() as stack:
        if args.baseline:
            base = worktree(args.baseline, tmp)
            stack.callback(
                subprocess.run, ["git", "worktree", "remove", "--force", str(base)], cwd=ROOT
            )
            compile_core(base)
            sides.insert(0, (f"baseline {args.baseline}", base))
        bootstrap, _ = stack.enter_context(own_kafka(tmp, args.broker))
        for name, root in sides:
            log(f"profiling {name} ...")
            collapsed, rate, cpu_us = profile(
                bootstrap, root, tmp, gates, args.events, args.seconds, name.split()[0]
            )
            if args.raw:
                Path(args.raw).mkdir(parents=True, exist_ok=True)
                (Path(args.raw) / f"{name.split()[0]}.collapsed").write_text(collapsed)
            print(report(name, collapsed, rate, cpu_us, args.top))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
