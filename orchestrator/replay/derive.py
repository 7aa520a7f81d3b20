"""Re-deriving, with the worker's own shell and logic, what the worker wrote: data decisions and
the notices of the fan-out (from `data.arrivals`), the router's `models.log` entries (from
`models.updates` and `commands`), model decisions (from `models.log`)."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from aiokafka import TopicPartition

from orchestrator.core.windows import EPOCH
from orchestrator.kafka.read import TimedRecord
from orchestrator.pipeline.build import Logics
from orchestrator.pipeline.eventtime import EventTimeLogic
from orchestrator.pipeline.models import Cursor
from orchestrator.pipeline.records import Rec
from orchestrator.pipeline.shell import Shell
from orchestrator.replay.ledger import Ledger, LogEntry
from orchestrator.replay.ranges import Range
from orchestrator.replay.snapshots import Snapshot
from orchestrator.replay.sources import Source


@dataclass(frozen=True)
class Derived:
    """Decisions in their wire form (kept as bytes: a parsed decision costs ~10x its bytes),
    the `models.log` entries the same inputs give, the offsets compared per partition (lowest
    trigger, highest read), and records read. Derived into a ledger, `wire` and `log` are empty:
    the ledger has them."""

    wire: list[bytes]
    log: list[LogEntry]
    bounds: dict[int, tuple[int, int]]
    events: int

    @property
    def decisions(self) -> list[dict[str, Any]]:
        return [orjson.loads(d) for d in self.wire]


def derive_data(
    logics: Logics,
    source: Source,
    rng: Range,
    *,
    processes: int | None = None,
    snapshots: Mapping[int, Snapshot] | None = None,
    ledger: Ledger | None = None,
    notices: bool = True,
) -> Derived:
    """Data-window decisions of every (named) partition, and the fan-out's notices (a
    partition with a snapshot starts from its state and position instead of offset 0). Partitions
    are independent, so with more than one CPU they are derived in parallel in forked processes
    (`processes`: how many; default one per CPU available), each reading its own partitions a
    chunk at a time. The result is the same, in the same order, either way. With a `ledger`,
    each chunk's decisions (and notices, if `notices`: the expected `models.log` entries) are
    written there as they are derived, and nothing is kept in memory."""
    arrivals_topic = logics.catalog.name("arrivals")
    named = rng.named()
    partitions = [p for p in source.partitions(arrivals_topic) if not named or p in named]
    logic = logics.eventtime
    snapshots = snapshots or {}
    jobs = [
        (logic, source, arrivals_topic, p, rng, snapshots.get(p), ledger, notices, logics.limits)
        for p in partitions
    ]
    if processes is None:
        processes = len(os.sched_getaffinity(0))
    processes = min(processes, len(jobs))
    if processes > 1 and "fork" in mp.get_all_start_methods():
        global _JOBS
        _JOBS = jobs  # inherited by the forked children: nothing to pickle on the way in
        if ledger is not None:
            ledger.release()  # each child opens its own connection
        try:
            with mp.get_context("fork").Pool(processes) as pool:
                results = pool.map(_derive_job, range(len(jobs)), chunksize=1)
        finally:
            _JOBS = []
    else:
        results = [_derive_partition(*job) for job in jobs]
    return Derived(
        [d for r in results for d in r.decisions],
        [LogEntry(k, v) for r in results for k, v in r.notices],
        {p: r.bounds for p, r in zip(partitions, results, strict=True)},
        sum(r.events for r in results),
    )


class _PartitionResult(NamedTuple):
    decisions: list[bytes]
    notices: list[tuple[bytes, bytes]]
    bounds: tuple[int, int]
    events: int


_DataJob = tuple[
    EventTimeLogic, Source, str, int, Range, Snapshot | None, Ledger | None, bool, dict[str, int]
]
_JOBS: list[_DataJob] = []


def _derive_job(index: int) -> _PartitionResult:
    return _derive_partition(*_JOBS[index])


def _derive_partition(
    logic: EventTimeLogic,
    source: Source,
    topic: str,
    partition: int,
    rng: Range,
    snapshot: Snapshot | None = None,
    ledger: Ledger | None = None,
    keep_notices: bool = True,
    limits: dict[str, int] | None = None,
) -> _PartitionResult:
    """One partition from its beginning up to its upper bound, a chunk at a time, through the
    worker's own shell and logic: the decisions triggered at or after the lower bound and every
    fan-out notice, in their wire form (cheap to hand back from a child process), or written
    to the ledger chunk by chunk."""
    shell: Shell[Any] = Shell(
        "replay", logic, restore=logic.restore, keep_changelog=False, limits=limits
    )
    tp = TopicPartition(topic, partition)
    start = 0
    if snapshot is None:
        shell.start(tp)
    else:
        shell.restore(tp, dict(snapshot.entries))
        start = snapshot.position
    bounds = rng.cursor(partition, use_offsets=True)
    decisions: list[bytes] = []
    notices: list[tuple[bytes, bytes]] = []
    events = 0
    for chunk in source.chunks(topic, partition, start):
        taken = bounds.take(chunk)
        events += len(taken)
        recs = [Rec(topic, partition, *r) for r in taken]
        lo = bounds.pair[0]
        cut = next((i for i, r in enumerate(recs) if r.offset >= lo), len(recs))
        before = shell.apply_batch(tp, recs[:cut], EPOCH)
        outputs = shell.apply_batch(tp, recs[cut:], EPOCH)
        derived = [o.value for o in outputs if o.role == "audit" and o.value]
        noticed = [
            (o.key or b"", o.value or b"")
            for o in before + outputs
            if keep_notices and o.role == "model_log"
        ]
        if ledger is None:
            decisions += derived
            notices += noticed
        else:
            ledger.add_derived(derived)
            ledger.expect(LogEntry(k, v) for k, v in noticed)
        if bounds.done:
            break
    return _PartitionResult(decisions, notices, bounds.pair, events)


def route(logics: Logics, source: Source, ledger: Ledger | None = None) -> list[LogEntry]:
    """The `models.log` entries the router writes for the `models.updates` and `commands`
    records, in each input partition's order (or, with a ledger, expected there chunk by
    chunk, and none returned)."""
    logic = logics.router
    out: list[LogEntry] = []
    for topic in sorted(logics.roles):
        for partition in source.partitions(topic):
            cursor = Cursor()
            for chunk in source.chunks(topic, partition):
                entries = []
                for r in chunk:
                    applied = logic.apply(cursor, Rec(topic, partition, *r), EPOCH)
                    entries += [
                        LogEntry(x.key, x.value) for x in applied.outputs if x.role == "model_log"
                    ]
                if ledger is None:
                    out += entries
                else:
                    ledger.expect(entries)
    return out


def derive_models(
    logics: Logics,
    source: Source,
    rng: Range,
    seen: Callable[[int, list[TimedRecord]], None] | None = None,
    ledger: Ledger | None = None,
) -> Derived:
    """Model and command decisions: a pure function of the ordered `models.log`, read a chunk
    at a time (each chunk is also handed to `seen`, the log check, so the log is read once);
    with a ledger, written there chunk by chunk."""
    logic = logics.models
    log_topic = logics.catalog.name("model_log")
    out: list[bytes] = []
    bounds: dict[int, tuple[int, int]] = {}
    events = 0
    for partition in source.partitions(log_topic):
        shell: Shell[Any] = Shell(
            "replay", logic, restore=logic.restore, keep_changelog=False, limits=logics.limits
        )
        tp = TopicPartition(log_topic, partition)
        shell.start(tp)
        cursor = rng.cursor(partition, use_offsets=False)
        for chunk in source.chunks(log_topic, partition):
            if seen is not None:
                seen(partition, chunk)
            taken = cursor.take(chunk)
            events += len(taken)
            recs = [Rec(log_topic, partition, *r) for r in taken]
            lo = cursor.pair[0]
            cut = next((i for i, r in enumerate(recs) if r.offset >= lo), len(recs))
            shell.apply_batch(tp, recs[:cut], EPOCH)
            derived = [
                o.value
                for o in shell.apply_batch(tp, recs[cut:], EPOCH)
                if o.role == "audit" and o.value
            ]
            if ledger is None:
                out += derived
            else:
                ledger.add_derived(derived)
            if cursor.done and seen is None:
                break
        bounds[partition] = cursor.pair
    return Derived(out, [], bounds, events)
