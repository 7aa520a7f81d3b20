"""The audit tools at scale, on their own (the full ladder measures them too, at the end of a
long run): `python -m bench.audit [--small N] [--large N] [--broker HOST:PORT]`.

On one broker (Apache Kafka from deploy/kafka unless --broker) and the ladder's events: a
worker processes `--small` events on one set of topics and `--large` on another; then, on each,
`orchestrator replay --processes 1` as a user runs it (peak RSS from the kernel, wall time),
replay in one process per CPU (events/s, against the worker's own rate on the large log: the
`replay >= 3 x L6` target), and the audit index (build rate, `audit history` latency). Prints the
figures and the ratios, writes them as JSON (`--json`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TypedDict

import orjson

from bench import ROOT, log
from bench.audit_index import audit_index
from bench.broker import fresh, own_kafka
from bench.procs import replay_process, worker_run
from bench.results import AuditIndexRun, ReplayProcessRun, WorkerRun
from bench.workload import EventSource, make_gates, produce
from orchestrator.kafka.connect import connection
from orchestrator.policies import Policies
from orchestrator.replay import Range, replay
from orchestrator.settings import Settings


class ParallelReplayRun(TypedDict):
    """Replay in this process, one forked process per CPU."""

    events_per_s: float
    end_to_end_events_per_s: float
    processes: int
    matched: bool


class LogFigures(TypedDict):
    """One log: the worker that wrote it, replay of it (one process and one per CPU), its index."""

    events: int
    L6: WorkerRun
    replay_1: ReplayProcessRun
    replay: ParallelReplayRun
    audit_index: AuditIndexRun


AuditRatios = TypedDict(
    "AuditRatios",
    {
        "replay_peak_rss large/small": float,
        "replay/L6 (large)": float,
        "replay end to end/L6 (large)": float,
        "replay 1 process/L6 (large)": float,
        "audit index build peak RSS large/small": float,
    },
)


class AuditResults(TypedDict):
    """What `python -m bench.audit` writes (`--json`)."""

    small: LogFigures
    large: LogFigures
    ratios: AuditRatios


def measure(args: argparse.Namespace, bootstrap: str, tmp: Path) -> AuditResults:
    conn = connection(Settings(), bootstrap)
    gates = make_gates(tmp / "gates")
    logs: dict[str, LogFigures] = {}
    for name, n in (("small", args.small), ("large", args.large)):
        log(f"{name}: {n} events through a worker ...")
        topics, catalog = fresh(conn, tmp, f"audit-{name}", args.partitions)
        asyncio.run(produce(conn, catalog.name("arrivals"), EventSource(), n))
        l6, _, worker = worker_run(conn, topics, gates, tmp, n, f"bench-audit-{name}", [])
        worker.stop()
        log(f"{name}: replay --processes 1 ...")
        one = replay_process(conn, topics, gates, tmp)
        log(f"{name}: replay, one process per CPU ...")
        started = time.perf_counter()
        with replay(conn, catalog, Policies.load(gates), {}, Range()) as report:
            wall = time.perf_counter() - started
            parallel = ParallelReplayRun(
                events_per_s=report.events / report.seconds,
                end_to_end_events_per_s=report.events / wall,
                processes=len(os.sched_getaffinity(0)),
                matched=report.ok,
            )
        log(f"{name}: audit index ...")
        index = audit_index(conn, topics, catalog, tmp)
        logs[name] = LogFigures(events=n, L6=l6, replay_1=one, replay=parallel, audit_index=index)
    small, large = logs["small"], logs["large"]
    ratios: AuditRatios = {
        "replay_peak_rss large/small": large["replay_1"]["peak_rss_mb"]
        / small["replay_1"]["peak_rss_mb"],
        "replay/L6 (large)": large["replay"]["events_per_s"] / large["L6"]["events_per_s"],
        "replay end to end/L6 (large)": large["replay"]["end_to_end_events_per_s"]
        / large["L6"]["events_per_s"],
        "replay 1 process/L6 (large)": large["replay_1"]["events_per_s"]
        / large["L6"]["events_per_s"],
        "audit index build peak RSS large/small": large["audit_index"]["build_peak_rss_mb"]
        / small["audit_index"]["build_peak_rss_mb"],
    }
    return AuditResults(small=small, large=large, ratios=ratios)


def render(r: AuditResults) -> str:
    lines = [
        (
            f"{'':8} {'events':>9} {'L6 ev/s':>9} {'replay ev/s':>12} {'1-proc ev/s':>12} "
            f"{'1-proc peak RSS MB':>19} {'matched':>8}"
        )
    ]
    for name, x in (("small", r["small"]), ("large", r["large"])):
        lines.append(
            f"{name:8} {x['events']:>9} {x['L6']['events_per_s']:>9.0f} "
            f"{x['replay']['events_per_s']:>12.0f} {x['replay_1']['events_per_s']:>12.0f} "
            f"{x['replay_1']['peak_rss_mb']:>19.1f} "
            f"{x['replay']['matched'] and x['replay_1']['matched']!s:>8}"
        )
    for name, figures in (("small", r["small"]), ("large", r["large"])):
        ix = figures["audit_index"]
        lines.append(
            f"audit index ({name}): {ix['records']} records ({ix['decisions']} decisions) in "
            f"{ix['build_seconds']:.1f} s ({ix['build_records_per_s']:.0f} records/s), peak RSS "
            f"{ix['build_peak_rss_mb']:.0f} MB; audit history query p50 "
            f"{ix['history_query_ms_p50']:.1f} ms, p99 {ix['history_query_ms_p99']:.1f} ms; "
            f"CLI {ix['history_cli_ms']:.0f} ms"
        )
    lines += [f"{k:34} x{v:.2f}" for k, v in r["ratios"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.audit",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--small", type=int, default=250_000, help="events of the smaller log")
    ap.add_argument("--large", type=int, default=1_000_000, help="events of the larger log")
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--broker", help="an Apache Kafka to use (default: start one)")
    ap.add_argument("--json", default=str(ROOT / "bench/results/audit-latest.json"))
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    try:
        with own_kafka(tmp, args.broker) as (bootstrap, _):
            results = measure(args, bootstrap, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
