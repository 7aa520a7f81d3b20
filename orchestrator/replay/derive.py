"""Re-deriving, with the worker's own shell and logic, what the worker wrote: data decisions and
the notices of the fan-out (from `data.arrivals`), the router's `models.log` entries (from
`models.updates` and `commands`), model decisions (from `models.log`)."""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from aiokafka import TopicPartition

from orchestrator import __version__
from orchestrator.catalog.topics import KAFKA_DEFAULT_MAX_MESSAGE_BYTES
from orchestrator.core.access import AccessSpec
from orchestrator.core.windows import EPOCH
from orchestrator.kafka.read import TimedRecord
from orchestrator.pipeline.eventtime import EventTimeLogic
from orchestrator.pipeline.models import Cursor, ModelLogic, RouterLogic
from orchestrator.pipeline.records import Rec
from orchestrator.pipeline.shell import Shell
from orchestrator.policies import Policies
from orchestrator.replay.ranges import Range


class LogEntry(NamedTuple):
    """A `models.log` record as written: the model (its key) and the entry (its value)."""

    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Derived:
    """Decisions in their wire form (parsed), the `models.log` entries the same inputs give,
    the offsets compared per partition (lowest trigger, highest read), and records read."""

    decisions: list[dict[str, Any]]
    log: list[LogEntry]
    bounds: dict[int, tuple[int, int]]
    events: int


def eventtime_logic(
    policies: Policies, arrivals_topic: str, worker_key: bytes | None = None
) -> EventTimeLogic:
    """The worker's event-time logic for these policies (the dlq size does not matter here)."""
    return EventTimeLogic(
        policies.dataset_specs(),
        policies.data_gates(arrivals_topic),
        policies.fanout(),
        arrivals_topic,
        KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
        worker_key,
    )


def derive_data(
    policies: Policies,
    arrivals_topic: str,
    data: dict[int, list[TimedRecord]],
    rng: Range,
    *,
    processes: int | None = None,
    worker_key: bytes | None = None,
) -> Derived:
    """Data-window decisions of every (named) partition, and the fan-out's notices. Partitions
    are independent, so with more than one CPU they are derived in parallel in forked processes
    (`processes`: how many; default one per CPU available). The result is the same, in the same
    order, either way."""
    bounds: dict[int, tuple[int, int]] = {}
    named = set(rng.from_offsets) | set(rng.to_offsets)
    for partition, records in sorted(data.items()):
        if named and partition not in named:
            continue  # an offset range names the partitions it covers
        bounds[partition] = (
            rng.lower(partition, records, True),
            rng.upper(partition, records, True),
        )
    logic = eventtime_logic(policies, arrivals_topic, worker_key)
    jobs = [(logic, arrivals_topic, p, data[p], lo, hi) for p, (lo, hi) in sorted(bounds.items())]
    if processes is None:
        processes = len(os.sched_getaffinity(0))
    processes = min(processes, len(jobs))
    # The records read are long-lived: freeze them so that the collector does not scan them
    # again and again while the core allocates (and so that forked children share them rather
    # than copying every page the collector would touch).
    gc.collect()
    gc.freeze()
    try:
        if processes > 1 and "fork" in mp.get_all_start_methods():
            global _JOBS
            _JOBS = jobs  # inherited by the forked children: nothing to pickle on the way in
            try:
                # largest partitions first, so that no process is left with a big one at the end
                order = sorted(range(len(jobs)), key=lambda i: -len(jobs[i][3]))
                with mp.get_context("fork").Pool(processes) as pool:
                    done = pool.map(_derive_job, order, chunksize=1)
                results = [r for _, r in sorted(zip(order, done, strict=True))]
            finally:
                _JOBS = []
        else:
            results = [_derive_partition(*job) for job in jobs]
    finally:
        gc.unfreeze()
    return Derived(
        [orjson.loads(d) for decisions, _, _ in results for d in decisions],
        [LogEntry(k, v) for _, notices, _ in results for k, v in notices],
        bounds,
        sum(n for _, _, n in results),
    )


_DataJob = tuple[EventTimeLogic, str, int, list[TimedRecord], int, int]
_JOBS: list[_DataJob] = []


def _derive_job(index: int) -> tuple[list[bytes], list[tuple[bytes, bytes]], int]:
    return _derive_partition(*_JOBS[index])


def _derive_partition(
    logic: EventTimeLogic,
    topic: str,
    partition: int,
    records: list[TimedRecord],
    lo: int,
    hi: int,
) -> tuple[list[bytes], list[tuple[bytes, bytes]], int]:
    """One partition from its beginning up to `hi` through the worker's own shell and logic:
    the decisions triggered at or after `lo` and every fan-out notice, in their wire form
    (cheap to hand back from a child process)."""
    shell: Shell[Any] = Shell("replay", logic, restore=logic.restore, keep_changelog=False)
    tp = TopicPartition(topic, partition)
    shell.start(tp)
    recs = [Rec(topic, partition, o, k, v, ts) for o, k, v, ts in records if o <= hi]
    cut = next((i for i, r in enumerate(recs) if r.offset >= lo), len(recs))
    before = shell.apply_batch(tp, recs[:cut], EPOCH)
    outputs = shell.apply_batch(tp, recs[cut:], EPOCH)
    decisions = [o.value for o in outputs if o.role == "audit" and o.value]
    notices = [(o.key or b"", o.value or b"") for o in before + outputs if o.role == "model_log"]
    return decisions, notices, len(recs)


def route(
    roles: Mapping[str, str], inputs: Mapping[str, dict[int, list[TimedRecord]]]
) -> list[LogEntry]:
    """The `models.log` entries the router writes for these `models.updates` and `commands`
    records (roles: topic -> catalog role), in each input partition's order."""
    logic = RouterLogic(roles, KAFKA_DEFAULT_MAX_MESSAGE_BYTES)
    out: list[LogEntry] = []
    for topic, partitions in sorted(inputs.items()):
        for partition, records in sorted(partitions.items()):
            cursor = Cursor()
            for o, k, v, ts in records:
                applied = logic.apply(cursor, Rec(topic, partition, o, k, v, ts), EPOCH)
                out += [LogEntry(x.key, x.value) for x in applied.outputs if x.role == "model_log"]
    return out


def derive_models(
    policies: Policies,
    access: AccessSpec,
    log_topic: str,
    log: dict[int, list[TimedRecord]],
    rng: Range,
) -> Derived:
    """Model and command decisions: a pure function of the ordered `models.log`."""
    logic = ModelLogic(
        {n: p.gate_spec() for n, p in policies.models.items()},
        access,
        __version__,
        log_topic,
        KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
    )
    out: list[dict[str, Any]] = []
    bounds: dict[int, tuple[int, int]] = {}
    events = 0
    for partition, records in sorted(log.items()):
        lo, hi = rng.lower(partition, records, False), rng.upper(partition, records, False)
        bounds[partition] = (lo, hi)
        shell: Shell[Any] = Shell("replay", logic, restore=logic.restore, keep_changelog=False)
        tp = TopicPartition(log_topic, partition)
        shell.start(tp)
        recs = [Rec(log_topic, partition, o, k, v, ts) for o, k, v, ts in records if o <= hi]
        events += len(recs)
        cut = next((i for i, r in enumerate(recs) if r.offset >= lo), len(recs))
        shell.apply_batch(tp, recs[:cut], EPOCH)
        for o in shell.apply_batch(tp, recs[cut:], EPOCH):
            if o.role == "audit" and o.value:
                out.append(orjson.loads(o.value))
    return Derived(out, [], bounds, events)
