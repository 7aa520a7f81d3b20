"""The bench's data and the loads it puts on the broker: gates and topics for it, the event
generator, the producer that sends its events, and the in-process levels L3..L5 that read them."""

from __future__ import annotations

import asyncio
import gc
import random
import time
from pathlib import Path
from typing import Any

import orjson
from aiokafka.partitioner import DefaultPartitioner

from bench import ROOT
from bench.results import Census, ClientRun, CoreSaw, Emitted
from orchestrator.contracts.codec import encode
from orchestrator.contracts.events import DataArrival
from orchestrator.contracts.fast import decode_arrival
from orchestrator.core.effects import Duplicate, Rejected, TooLate
from orchestrator.core.engine import EventTimeEngine
from orchestrator.core.timeutil import format_rfc3339_ms
from orchestrator.errors import E_DUPLICATE_CONFLICT
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.write import send_batches
from orchestrator.policies import Policies
from orchestrator.testing import dataset_policy, write_catalog, write_gates

DATASETS = 24  # keys spread over all 6 partitions (6 keys would hash onto only 3)
BASE_MS = 1_795_392_000_000
PAD = "x" * 120


# -- set-up ----------------------------------------------------------------------------------


def make_gates(directory: Path) -> Path:
    """The bench's gates: one dataset policy per dataset, bounds wide enough for any run."""
    return write_gates(
        directory,
        [
            dataset_policy(
                f"bench-{i}", max_records=100_000_000, drift_last=10, drift_max_ratio=100.0
            )
            for i in range(DATASETS)
        ],
    )


def make_topics(directory: Path, prefix: str, partitions: int, root: Path = ROOT) -> Path:
    """The catalog of `root` (the checkout a run measures), its names prefixed."""
    if directory.exists():
        raise FileExistsError(directory)
    return write_catalog(directory, prefix, partitions, root=root)


# -- the data ----------------------------------------------------------------------------------

#: shares of the events that repeat a recent event of the same dataset: byte for byte (a
#: duplicate, which the core ignores) or with other content (a conflict, which goes to the dlq)
DUPLICATE_SHARE = 0.01
CONFLICT_SHARE = 0.001


class EventSource:
    """~400-byte data.arrival events, one second of event time apart per dataset, with disorder
    within the bound (and about 1% beyond it), about 1% duplicates (a recent event of the same
    dataset sent again, byte for byte) and about 0.1% conflicts (a recent event id of the same
    dataset with other content). `emitted` counts what was made of each kind."""

    def __init__(self, seed: int = 1, prefix: str = "b") -> None:
        self.prefix = prefix
        self.rng = random.Random(seed)
        self.n = 0
        self.clock = [BASE_MS] * DATASETS
        #: per dataset, the last event sent within the bound (key, value, event)
        self.recent: list[tuple[bytes, dict[str, Any]] | None] = [None] * DATASETS
        self.emitted = Emitted(duplicates=0, conflicts=0, beyond_bound=0)

    def next(self) -> tuple[bytes, bytes]:
        self.n += 1
        d = self.n % DATASETS
        self.clock[d] += 1000
        key = f"bench-{d}".encode()
        pick = self.rng.random()
        recent = self.recent[d]
        if recent is not None and pick < DUPLICATE_SHARE + CONFLICT_SHARE:
            if pick < DUPLICATE_SHARE:
                self.emitted["duplicates"] += 1
                return key, recent[0]
            self.emitted["conflicts"] += 1
            return key, orjson.dumps({**recent[1], "record_count": recent[1]["record_count"] + 1})
        beyond = self.rng.random() <= 0.01
        jitter = self.rng.randint(10_000, 60_000) if beyond else self.rng.randint(0, 8000)
        event = {
            "type": "data.arrival",
            "v": 1,
            "event_id": f"{self.prefix}{self.n}",
            "dataset": f"bench-{d}",
            "source": "s",
            "event_time": format_rfc3339_ms(self.clock[d] - jitter),
            "uri": f"s3://bench-lake/bench-{d}/2026/11/23/part-{self.n:09d}.parquet",
            "record_count": 100,
            "checksum": f"sha256:{self.n:064d}",
            "attributes": {"pad": PAD},
        }
        value = orjson.dumps(event)
        if beyond:
            self.emitted["beyond_bound"] += 1
        else:
            self.recent[d] = (value, event)
        return key, value


def census(n: int) -> Census:
    """What the first n events of the bench's data are made of (the same seed as every run)."""
    source = EventSource()
    for _ in range(n):
        source.next()
    return Census(events=n, **source.emitted)


TICK_S = 0.005


async def produce(
    conn: Connection, topic: str, source: EventSource, n: int, rate: float | None = None
) -> float:
    """n events: as fast as possible, or open loop at a fixed rate (what is due every 5 ms is
    sent then, whatever the consumer does); returns the wall time sending began. Records go out
    as ready-made record batches per partition (the default partitioner's choice): the generator
    costs the machine a few µs per event instead of a send() each, so it takes little CPU from
    the worker it measures."""
    producer = conn.producer(acks=1, max_batch_size=1024 * 1024)
    await producer.start()
    partitioner = DefaultPartitioner()
    collecting = gc.isenabled()
    try:
        partitions = sorted(await producer.partitions_for(topic))
        # the events of a paced run are made up front, so that making them costs nothing later,
        # and the collector is off while they are sent: a full collection scanning ~100k of them
        # stalled the generator 30-50 ms, several times a run, and the stream came in bursts
        ready = [source.next() for _ in range(n)] if rate else []
        if rate:
            gc.disable()
        pending: list[asyncio.Future[Any]] = []
        started, sent = time.monotonic(), 0
        started_wall = time.time()
        while sent < n:
            if rate:
                due = min(n, int((time.monotonic() - started) * rate) + 1)
                chunk = ready[sent:due]
            else:
                chunk = [source.next() for _ in range(min(5000, n - sent))]
            by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
            for key, value in chunk:
                p = partitioner(key, partitions, partitions)
                by_partition.setdefault(p, []).append((key, value))
            for p, records in by_partition.items():
                pending += await send_batches(producer, topic, p, records)
            sent += len(chunk)
            if rate:
                await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic(), TICK_S))
            if len(pending) > 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        if collecting:
            gc.enable()
        await producer.stop()
    return started_wall


# -- L3 .. L5: in-process loops on the same topic --------------------------------------------


async def client_loop(
    conn: Connection, topic: str, out_topic: str, n: int, level: int, gates_dir: Path
) -> ClientRun:
    policies = Policies.load(gates_dir)
    specs, gates = policies.dataset_specs(), policies.data_gates(topic)
    engines: dict[int, EventTimeEngine] = {}
    consumer = conn.consumer(
        topic,
        group_id=f"bench-l{level}-{time.time_ns()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=2000,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    producer = conn.producer(linger_ms=5, max_batch_size=512 * 1024, acks=1)
    await consumer.start()
    await producer.start()
    seen, cpu0, t0 = 0, time.process_time(), None
    filler = b"y" * 400
    saw = CoreSaw(duplicates=0, conflicts=0, too_late=0)
    try:
        while seen < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=2000)
            if t0 is None and batch:
                t0, cpu0 = time.perf_counter(), time.process_time()
            for tp, records in batch.items():
                for r in records:
                    value = filler
                    if level >= 4:
                        # the worker's decoder for the arrivals topic (the contract's verdict)
                        event = decode_arrival(r.value, r.key)
                        value = encode(event)
                        if level >= 5:
                            assert isinstance(event, DataArrival)
                            engine = engines.get(tp.partition)
                            if engine is None:
                                engine = engines[tp.partition] = EventTimeEngine(specs, gates)
                            for effect in engine.handle(event, tp.partition, r.offset):
                                if isinstance(effect, Duplicate):
                                    saw["duplicates"] += 1
                                elif isinstance(effect, TooLate):
                                    saw["too_late"] += 1
                                elif (
                                    isinstance(effect, Rejected)
                                    and effect.code == E_DUPLICATE_CONFLICT
                                ):
                                    saw["conflicts"] += 1
                    await producer.send(out_topic, value, key=r.key)
                    seen += 1
            if batch:
                await consumer.commit()
        await producer.flush()
        elapsed = time.perf_counter() - (t0 or time.perf_counter())
        cpu = time.process_time() - cpu0
    finally:
        await producer.stop()
        await consumer.stop()
    out = ClientRun(events_per_s=n / elapsed, cpu_us_per_event=cpu / n * 1e6, seconds=elapsed)
    if level >= 5:
        out["core_saw"] = saw
    return out
