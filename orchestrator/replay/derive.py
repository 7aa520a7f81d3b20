"""Re-deriving, with the worker's own shell and logic, what the worker wrote: data decisions and
the notices of the fan-out (from `data.arrivals`), the router's `models.log` entries (from
`models.updates` and `commands`), model decisions (from `models.log`)."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import orjson
from aiokafka import TopicPartition

from orchestrator.core.windows import EPOCH
from orchestrator.kafka.read import TimedRecord
from orchestrator.pipeline.build import Logics
from orchestrator.pipeline.records import Output, Rec
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


class Sink(Protocol):
    """Where derivation puts what it derives: a `Ledger` (on disk, what `replay` uses) or a
    `Collected` (in memory: tests and small tools)."""

    def add_derived(self, wires: Iterable[bytes]) -> None:
        """Decisions, in their wire form."""
        ...

    def expect(self, entries: Iterable[LogEntry]) -> None:
        """`models.log` entries the same inputs give."""
        ...


@dataclass
class Collected:
    """A sink in memory."""

    wire: list[bytes] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)

    def add_derived(self, wires: Iterable[bytes]) -> None:
        self.wire += wires

    def expect(self, entries: Iterable[LogEntry]) -> None:
        self.log += entries


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
    snapshots = snapshots or {}
    _ = logics.eventtime  # built once, here: forked children share it
    jobs = [
        _DataJob(logics, source, arrivals_topic, p, rng, snapshots.get(p), ledger, notices)
        for p in partitions
    ]
    if processes is None:
        processes = len(os.sched_getaffinity(0))
    processes = min(processes, len(jobs))
    if processes > 1 and "fork" in mp.get_all_start_methods():
        if ledger is not None:
            ledger.release()  # each child opens its own connection
        # the jobs reach each child through the pool's initializer: forked, not pickled
        with mp.get_context("fork").Pool(processes, _child_jobs, (jobs,)) as pool:
            results = pool.map(_derive_job, range(len(jobs)), chunksize=1)
    else:
        results = [job.run() for job in jobs]
    return Derived(
        [d for r in results for d in r.collected.wire],
        [e for r in results for e in r.collected.log],
        {p: r.bounds for p, r in zip(partitions, results, strict=True)},
        sum(r.events for r in results),
    )


class _PartitionResult(NamedTuple):
    #: what was derived (empty when it went to a ledger)
    collected: Collected
    bounds: tuple[int, int]
    events: int


class _DataJob(NamedTuple):
    """One arrivals partition to derive."""

    logics: Logics
    source: Source
    topic: str
    partition: int
    rng: Range
    snapshot: Snapshot | None
    ledger: Ledger | None
    keep_notices: bool

    def run(self) -> _PartitionResult:
        """The partition from its beginning (or its snapshot) up to its upper bound, a chunk at
        a time, through the worker's own shell and logic: the decisions triggered at or after
        the lower bound, and every fan-out notice (if `keep_notices`), in their wire form
        (cheap to hand back from a child process), or written to the ledger chunk by chunk."""
        collected = Collected()
        sink: Sink = self.ledger if self.ledger is not None else collected
        shell = _shell(self.logics.eventtime, self.logics)
        tp = TopicPartition(self.topic, self.partition)
        start = 0
        if self.snapshot is None:
            shell.start(tp)
        else:
            shell.restore(tp, dict(self.snapshot.entries))
            start = self.snapshot.position
        bounds = self.rng.cursor(self.partition, use_offsets=True)
        events = 0
        for chunk in self.source.chunks(self.topic, self.partition, start):
            taken = bounds.take(chunk)
            events += len(taken)
            before, outputs = _apply(shell, tp, taken, bounds.pair[0])
            sink.add_derived(_decisions(outputs))
            if self.keep_notices:
                sink.expect(_entries(before + outputs))
            if bounds.done:
                break
        return _PartitionResult(collected, bounds.pair, events)


#: a forked child's jobs (set by the pool's initializer, in the child only)
_child: list[_DataJob] = []


def _child_jobs(jobs: list[_DataJob]) -> None:
    _child[:] = jobs


def _derive_job(index: int) -> _PartitionResult:
    return _child[index].run()


def _shell(logic: Any, logics: Logics) -> Shell[Any]:
    """The worker's shell around `logic`, keeping state as entries only (no changelog)."""
    return Shell("replay", logic, keep_changelog=False, limits=logics.limits)


def _apply(
    shell: Shell[Any], tp: TopicPartition, taken: list[TimedRecord], lo: int
) -> tuple[list[Output], list[Output]]:
    """A chunk of `tp` through the shell: the outputs of the records below offset `lo` (before
    the range compared), and of those from it on."""
    recs = [Rec(tp.topic, tp.partition, *r) for r in taken]
    cut = next((i for i, r in enumerate(recs) if r.offset >= lo), len(recs))
    return shell.apply_batch(tp, recs[:cut], EPOCH), shell.apply_batch(tp, recs[cut:], EPOCH)


def _decisions(outputs: list[Output]) -> list[bytes]:
    return [o.value for o in outputs if o.role == "audit" and o.value]


def _entries(outputs: list[Output]) -> list[LogEntry]:
    return [LogEntry(o.key or b"", o.value or b"") for o in outputs if o.role == "model_log"]


def route(logics: Logics, source: Source, ledger: Ledger | None = None) -> list[LogEntry]:
    """The `models.log` entries the router writes for the `models.updates` and `commands`
    records, through the worker's shell and router logic, in each input partition's order (or,
    with a ledger, expected there chunk by chunk, and none returned)."""
    collected = Collected()
    sink: Sink = ledger if ledger is not None else collected
    shell = _shell(logics.router, logics)
    for topic in sorted(logics.roles):
        for partition in source.partitions(topic):
            tp = TopicPartition(topic, partition)
            shell.start(tp)
            for chunk in source.chunks(topic, partition):
                recs = [Rec(topic, partition, *r) for r in chunk]
                sink.expect(_entries(shell.apply_batch(tp, recs, EPOCH)))
            shell.forget([tp])
    return collected.log


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
    collected = Collected()
    sink: Sink = ledger if ledger is not None else collected
    log_topic = logics.catalog.name("model_log")
    bounds: dict[int, tuple[int, int]] = {}
    events = 0
    for partition in source.partitions(log_topic):
        shell = _shell(logics.models, logics)
        tp = TopicPartition(log_topic, partition)
        shell.start(tp)
        cursor = rng.cursor(partition, use_offsets=False)
        for chunk in source.chunks(log_topic, partition):
            if seen is not None:
                seen(partition, chunk)
            taken = cursor.take(chunk)
            events += len(taken)
            _, outputs = _apply(shell, tp, taken, cursor.pair[0])
            sink.add_derived(_decisions(outputs))
            if cursor.done and seen is None:
                break
        bounds[partition] = cursor.pair
    return Derived(collected.wire, [], bounds, events)
