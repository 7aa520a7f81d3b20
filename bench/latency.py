"""Decision latency under an open-loop load: a worker on fresh topics, the stream paced at a
fixed rate, and each decision's broker timestamp against that of the event that triggered it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson

from bench.broker import broker_pid, fresh
from bench.procs import CpuShares, WorkerProc
from bench.results import LatencyRun
from bench.workload import DATASETS, EventSource, produce
from orchestrator.catalog.topics import Catalog
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.read import partitions_of, read_timed
from orchestrator.settings import Settings


def latency_run(
    conn: Connection,
    tmp: Path,
    gates: Path,
    kafka_run: Path | None,
    rate: float,
    guarantee: str,
    tag: str,
    *,
    partitions: int,
    warmup_seconds: float,
    seconds: float,
) -> LatencyRun:
    """One open-loop latency run on fresh topics: a warm-up burst, then `rate` events/s for
    the warm-up seconds (not counted) and the measured ones."""
    topics_l, catalog_l = fresh(conn, tmp, f"lat{tag}{guarantee[0]}", partitions)
    worker = WorkerProc(
        conn.bootstrap,
        topics_l,
        gates,
        f"bench-lat-{tag}-{guarantee}-{time.time_ns() % 10**8}",
        tmp / f"lat-{tag}-{guarantee}.log",
        guarantee,
    )
    # warm-up: a burst that fires windows of every dataset (every output topic and the
    # model agents see traffic); the paced stream then continues the same source
    source = EventSource(seed=10)
    warm_events = DATASETS * 125
    asyncio.run(produce(conn, catalog_l.name("arrivals"), source, warm_events))
    worker.wait_events(warm_events, timeout=120)
    # one continuous open-loop stream; decisions triggered in its first seconds (broker
    # and worker settling at this rate) are not counted
    count = int(rate * (warmup_seconds + seconds))
    shares = CpuShares(broker_pid(kafka_run), worker)
    shares.start()
    began = asyncio.run(produce(conn, catalog_l.name("arrivals"), source, count, rate=rate))
    since = int((began + warmup_seconds) * 1000)
    worker.wait_events(warm_events + count, timeout=600)
    cpu = shares.stop()
    time.sleep(1.0)
    worker.stop()
    lat = asyncio.run(latencies(conn, catalog_l, since))
    return LatencyRun(
        guarantee=guarantee,
        rate=rate,
        decisions=len(lat),
        p50_ms=_ms(pct(lat, 0.5)),
        p99_ms=_ms(pct(lat, 0.99)),
        p999_ms=_ms(pct(lat, 0.999)),
        cpu_shares=cpu,
        linger_ms=Settings().kafka_linger_ms,
        fetch_max_wait_ms=Settings().kafka_fetch_max_wait_ms,
    )


async def latencies(conn: Connection, catalog: Catalog, since_ms: int) -> list[float]:
    """Decision latency: broker timestamp of the decision minus that of its trigger event."""
    arrivals: dict[tuple[Any, Any], int] = {}
    topic = catalog.name("arrivals")
    for p in await partitions_of(conn, topic):
        for offset, _, _, ts, _ in await read_timed(conn, topic, p, 0, None):
            arrivals[(p, offset)] = ts
    out = []
    audit = catalog.name("audit")
    for p in await partitions_of(conn, audit):
        for _, _, value, ts, _ in await read_timed(conn, audit, p, 0, None):
            d = orjson.loads(value or b"{}")
            trig = d.get("trigger") or {}
            t = arrivals.get((trig.get("partition"), trig.get("offset")))
            if t is not None and t >= since_ms:
                out.append((ts - t) / 1000)
    return sorted(out)


def pct(values: list[float], q: float) -> float | None:
    """The q-quantile of sorted `values` (the value at rank q·n; None: no values)."""
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000, 2)
