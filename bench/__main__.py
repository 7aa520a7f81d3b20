"""`python -m bench`: the benchmark ladder on real Apache Kafka, figures and ratios in one run.

L3  plain aiokafka loop: consume the input, produce one ~400-byte record per input, batched commits
L4  L3 + contract decoding/encoding (pydantic + orjson)
L5  L4 + the pure core (dedupe, watermarks, windows, data gate), in memory
L6  the real `orchestrator worker` (all agents, state, changelogs, audit)
plus: L6 decision latency at 50% and 80% of its max rate (open loop), replay throughput, worker
RSS at two event counts, changelog bytes per input event.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from bench import ROOT, log
from bench.audit_index import audit_index
from bench.broker import (
    broker_pid,
    delete_topics,
    fresh,
    own_kafka,
    start_kafka,
    stop_kafka,
    topic_bytes,
)
from bench.latency import latency_run
from bench.peer import quix_run
from bench.procs import WorkerProc, replay_process, worker_run
from bench.report import ratios, shares_text, table, targets
from bench.results import (
    AuditIndexRun,
    ClientLevel,
    ClientRun,
    DataCensus,
    Figures,
    LatencyRun,
    ReplayProcessRun,
    ReplayRun,
    Results,
    WorkerRun,
)
from bench.workload import EventSource, census, client_loop, make_gates, produce
from orchestrator import core as core_package
from orchestrator.catalog.topics import Catalog
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.connect import connection
from orchestrator.pipeline.collector import GC_GEN0_THRESHOLD
from orchestrator.policies import Policies
from orchestrator.replay import Range, replay
from orchestrator.settings import Settings


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.latency_rate:
        return latency_only(args)
    results = ladder(args)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    # the keys in the order `Results` declares them, the order the bench has always written
    # (rss_growth_ratio, set only with two RSS points or more, goes after rss_mb)
    fields: Mapping[str, object] = results
    ordered = {key: fields[key] for key in Results.__annotations__ if key in fields}
    Path(args.json).write_text(json.dumps(ordered, indent=2))
    print(table(results))
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--events", type=int, default=200_000, help="events per throughput run")
    ap.add_argument(
        "--rss-points", default="200000,1000000", help="event counts at which worker RSS is read"
    )
    ap.add_argument(
        "--latency-seconds", type=float, default=20.0, help="duration of each open-loop latency run"
    )
    ap.add_argument(
        "--latency-warmup-seconds",
        type=float,
        default=5.0,
        help="seconds at the run's rate before the measured ones (their decisions are not counted)",
    )
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument(
        "--replay-small",
        type=int,
        default=250_000,
        help="events of the smaller log replay's peak RSS is compared at (the larger: the ladder's)",
    )
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs of each of L3..L5 (the median is reported)"
    )
    ap.add_argument("--broker", help="use this Kafka instead of starting deploy/kafka")
    ap.add_argument("--json", default=str(ROOT / "bench/results/latest.json"))
    ap.add_argument(
        "--latency-rate",
        type=float,
        help="only the latency run at this many events/s, --repeat times (compare settings)",
    )
    return ap


def ladder(args: argparse.Namespace) -> Results:
    """The whole ladder on one broker, in order: L3..L5 in process, L6, replay and its memory,
    the audit index at two log lengths, L6 under exactly_once, then latency on a quiet broker."""
    # The same collector settings as the worker (orchestrator.worker.app.run_worker), so that
    # L4/L5 pay for the same code what L6 pays.
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)
    n = args.events
    rss_points = [int(x) for x in args.rss_points.split(",") if x]
    total = max(n, max(rss_points, default=0))
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    kafka_run = None
    bootstrap = args.broker
    if not bootstrap:
        bootstrap, kafka_run = start_kafka(tmp)
    log(f"broker {bootstrap}; {n} events of ~{len(EventSource().next()[1])} bytes")
    conn = connection(Settings(), bootstrap)  # TLS/SASL as the orchestrator's settings say
    gates = make_gates(tmp / "gates")
    try:
        topics, catalog = fresh(conn, tmp, "ladder", args.partitions)
        asyncio.run(produce(conn, catalog.name("arrivals"), EventSource(), total))
        l3, l4, l5, client_topic = client_levels(conn, tmp, gates, n, args.partitions, args.repeat)
        log("Quix Streams over the same events ...")
        peer = quix_run(conn, client_topic, n, tmp)
        log("L6 ...")
        l6, rss, worker = worker_run(
            conn, topics, gates, tmp, total, "bench-l6", rss_points, broker=broker_pid(kafka_run)
        )
        l6["core_saw"] = worker.core_saw()
        worker.stop()
        # the data's claims, checked by the run: what the generator made of n and of all events
        data = DataCensus(L5=census(n), L6=census(total))
        changelog = asyncio.run(topic_bytes(conn, catalog.name("eventtime_state"))) / total
        input_bytes = len(EventSource().next()[1])
        log("replay ...")
        replayed = replay_in_process(conn, catalog, gates)
        log("replay memory and the audit index ...")
        replay_large = replay_process(conn, topics, gates, tmp)
        index_large = audit_index(conn, topics, catalog, tmp)
        small = min(args.replay_small, total)
        replay_small, index_small = small_log(conn, tmp, gates, small, args.partitions)
        cores = len(os.sched_getaffinity(0))
        log(f"L6 as `worker --processes {cores}` (fresh topics, the same events) ...")
        topics_n, catalog_n = fresh(conn, tmp, "ladder-procs", args.partitions)
        asyncio.run(produce(conn, catalog_n.name("arrivals"), EventSource(), n))
        l6n, _, worker = worker_run(
            conn,
            topics_n,
            gates,
            tmp,
            n,
            "bench-l6-procs",
            [],
            broker=broker_pid(kafka_run),
            processes=cores,
        )
        l6n["processes"] = cores
        worker.stop()
        log("L6 under exactly_once (fresh topics, the same events) ...")
        topics_x, catalog_x = fresh(conn, tmp, "ladder-eos", args.partitions)
        asyncio.run(produce(conn, catalog_x.name("arrivals"), EventSource(), n))
        l6x, _, worker = worker_run(
            conn,
            topics_x,
            gates,
            tmp,
            n,
            "bench-l6-eos",
            [],
            guarantee="exactly_once",
            broker=broker_pid(kafka_run),
        )
        worker.stop()
        # After the ladder (a million events, their changelog and a replay) the broker does heavy
        # background work for a while (seen as ~0.5 s of request-handler CPU that stalls the next
        # worker's first checkpoint). Latency is measured on a fresh broker, or, when the broker
        # is not ours, with the ladder's topics deleted and a pause.
        if kafka_run is not None:
            log("fresh broker for the latency runs ...")
            stop_kafka(kafka_run)
            bootstrap, kafka_run = start_kafka(tmp, "kafka-latency")
            conn = connection(Settings(), bootstrap)
        else:
            asyncio.run(delete_topics(conn, [s.name for s in catalog.specs.values()]))
            time.sleep(5)
        latency = latency_runs(conn, tmp, gates, kafka_run, l6, l6x, args)
    finally:
        stop_kafka(kafka_run)
        shutil.rmtree(tmp, ignore_errors=True)
    figures = Figures(
        events=n,
        partitions=args.partitions,
        broker="apache-kafka",
        L3=l3,
        L4=l4,
        L5=l5,
        data=data,
        L6=l6,
        rss_mb=rss,
        changelog_bytes_per_event=changelog,
        input_bytes_per_event=input_bytes,
        replay=replayed,
        replay_rss={
            "large": replay_large,
            "small": replay_small,
            "growth_ratio": replay_large["peak_rss_mb"] / replay_small["peak_rss_mb"],
        },
        audit_index=index_large,
        audit_index_small=index_small,
        L6_exactly_once=l6x,
        L6_processes=l6n,
        peer=peer,
        latency=latency,
        ratios=ratios((l3, l4, l5), l6, l6x, replayed, l6n, peer),
        max_rss_self_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    pts = sorted(rss, key=int)  # keys are event counts as strings
    if len(pts) >= 2:
        figures["rss_growth_ratio"] = rss[pts[-1]] / rss[pts[0]]
    # which build of the core the worker ran (scripts/build_core.py; ORCH_PURE_CORE=1: pure)
    core_build = "mypyc" if core_compiled() else "pure"
    return {**figures, "targets": targets(figures), "core_build": core_build}


def client_levels(
    conn: Connection, tmp: Path, gates: Path, n: int, partitions: int, repeat: int
) -> tuple[ClientLevel, ClientLevel, ClientLevel, str]:
    """L3, L4 and L5, each the median of `repeat` runs over a topic of exactly n events (its
    name is returned too: the peer reads the same events)."""
    # L3..L5 read a topic of exactly n events (the ladder's holds more for L6's RSS points,
    # and a loop that stops at n would take a different n of them each run): what L5's core
    # saw is then checked against what the generator made of those n.
    _, client = fresh(conn, tmp, "ladder-client", partitions)
    asyncio.run(produce(conn, client.name("arrivals"), EventSource(), n))
    arrivals, windows = client.name("arrivals"), client.name("windows")
    # The broker's JIT is cold at first: one discarded L3 pass so that L3 is not understated.
    log("warm-up (L3, discarded) ...")
    asyncio.run(client_loop(conn, arrivals, windows, n, 3, gates))
    # L3..L5 are short: run them in turn `--repeat` times and keep each level's median run,
    # so one unlucky run (the machine's other work) does not skew the ratios.
    runs: dict[int, list[ClientRun]] = {3: [], 4: [], 5: []}
    for i in range(repeat):
        for level in (3, 4, 5):
            log(f"L{level} ({i + 1}/{repeat}) ...")
            runs[level].append(asyncio.run(client_loop(conn, arrivals, windows, n, level, gates)))

    def median(level_runs: list[ClientRun]) -> ClientLevel:
        ranked = sorted(level_runs, key=lambda r: r["events_per_s"])
        return {**ranked[len(ranked) // 2], "runs": level_runs}

    return median(runs[3]), median(runs[4]), median(runs[5]), arrivals


def replay_in_process(conn: Connection, catalog: Catalog, gates: Path) -> ReplayRun:
    """Replay of the ladder's topics in this process (one forked process per CPU)."""
    started = time.perf_counter()
    with replay(conn, catalog, Policies.load(gates), {}, Range()) as report:
        wall = time.perf_counter() - started
        matched = report.ok
    return ReplayRun(
        # as `orchestrator replay` reports it (it streams: reading is part of the derivation)
        events_per_s=report.events / report.seconds if report.seconds else None,
        # the same, plus connecting and listing the topics
        end_to_end_events_per_s=report.events / wall,
        processes=len(os.sched_getaffinity(0)),
        matched=matched,
        events=report.events,
    )


def small_log(
    conn: Connection, tmp: Path, gates: Path, n: int, partitions: int
) -> tuple[ReplayProcessRun, AuditIndexRun]:
    """A worker's output for n events on fresh topics; replay's memory and the audit index on
    it, to compare with the ladder's longer log."""
    topics_s, catalog_s = fresh(conn, tmp, "replay-small", partitions)
    asyncio.run(produce(conn, catalog_s.name("arrivals"), EventSource(), n))
    worker = WorkerProc(
        conn.bootstrap, topics_s, gates, "bench-replay-small", tmp / "replay-small.log"
    )
    worker.wait_events(n, timeout=3600)  # only its output is wanted here, not its rate
    worker.stop()
    return replay_process(conn, topics_s, gates, tmp), audit_index(conn, topics_s, catalog_s, tmp)


def latency_runs(
    conn: Connection,
    tmp: Path,
    gates: Path,
    kafka_run: Path | None,
    l6: WorkerRun,
    l6x: WorkerRun,
    args: argparse.Namespace,
) -> dict[str, LatencyRun]:
    """Open-loop latency at 50% and 80% of the worker's max rate, and at 50% under
    exactly_once (of its own max rate)."""
    out: dict[str, LatencyRun] = {}
    for share, guarantee, maximum in (
        (0.5, "at_least_once", l6),
        (0.8, "at_least_once", l6),
        (0.5, "exactly_once", l6x),
    ):
        rate = max(50.0, maximum["events_per_s"] * share)
        name = f"{int(share * 100)}%" + ("" if guarantee == "at_least_once" else " eos")
        log(f"latency at {share:.0%} of max ({rate:.0f} events/s), {guarantee} ...")
        out[name] = latency_run(
            conn,
            tmp,
            gates,
            kafka_run,
            rate,
            guarantee,
            f"{int(share * 100)}",
            partitions=args.partitions,
            warmup_seconds=args.latency_warmup_seconds,
            seconds=args.latency_seconds,
        )
    return out


def latency_only(args: argparse.Namespace) -> int:
    """`--latency-rate R`: only the latency run, at R events/s (to compare settings such as
    ORCHESTRATOR_KAFKA_LINGER_MS or ORCHESTRATOR_KAFKA_FETCH_MAX_WAIT_MS quickly); prints one
    line and the CPU shares per run."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-lat-"))
    try:
        with own_kafka(tmp, args.broker) as (bootstrap, kafka_run):
            conn = connection(Settings(), bootstrap)
            gates = make_gates(tmp / "gates")
            runs = [
                latency_run(
                    conn,
                    tmp,
                    gates,
                    kafka_run,
                    args.latency_rate,
                    "at_least_once",
                    f"{i}",
                    partitions=args.partitions,
                    warmup_seconds=args.latency_warmup_seconds,
                    seconds=args.latency_seconds,
                )
                for i in range(args.repeat)
            ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for lat in runs:
        print(
            f"latency at {lat['rate']:.0f}/s, linger {lat['linger_ms']} ms, "
            f"fetch wait {lat['fetch_max_wait_ms']} ms "
            f"({lat['decisions']} decisions): p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms, "
            f"p99.9 {lat['p999_ms']} ms; {shares_text(lat['cpu_shares'])}"
        )
    return 0


def core_compiled() -> bool:
    """Whether this checkout's core runs compiled (the worker subprocesses load the same)."""
    import orchestrator.core.windows  # noqa: F401

    return bool(core_package.compiled_modules())


if __name__ == "__main__":
    sys.exit(main())
