"""`orchestrator replay`: re-derive decisions from the input topics with the same core the worker
runs, and prove they match what `audit.decisions` recorded.

Inputs: `data.arrivals` (every data-window decision is a pure function of its partition and the
dataset policy) and `models.log` (the model gate's ordered input: the updates and commands the
router forwarded, and the data decisions it was told about). Topics are read directly with
assign + seek: no consumer group, no side effects.

Ranges: decisions depend on state built by earlier events, so each partition is always read
from its beginning up to the end bound; the bounds select which decisions are compared: those
whose trigger (the event that caused them, recorded in `trigger`) lies inside the range.
`--from-offset/--to-offset P:O` bound `data.arrivals` partitions (inclusive; only the named
partitions are compared; model decisions are compared whole); `--since/--until` bound both topics
by broker timestamp.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing as mp
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import TopicPartition

from orchestrator import __version__
from orchestrator.catalog.topics import KAFKA_DEFAULT_MAX_MESSAGE_BYTES, Catalog
from orchestrator.core.access import AccessSpec
from orchestrator.core.windows import EPOCH
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.read import TimedRecord, partitions_of, read_timed
from orchestrator.pipeline.eventtime import EventTimeLogic
from orchestrator.pipeline.models import ModelLogic
from orchestrator.pipeline.records import Rec
from orchestrator.pipeline.shell import Shell
from orchestrator.policies import Policies

#: Left out of the comparison: wall clock, and the code version that wrote the record.
IGNORED_FIELDS = ("decided_at", "orchestrator_version")


@dataclass(frozen=True)
class Range:
    from_offsets: dict[int, int] = field(default_factory=dict)
    to_offsets: dict[int, int] = field(default_factory=dict)
    since_ms: int | None = None
    until_ms: int | None = None

    def upper(self, partition: int, records: list[TimedRecord], use_offsets: bool) -> int:
        """Highest offset to read (inclusive)."""
        hi = records[-1][0] if records else -1
        if use_offsets and partition in self.to_offsets:
            hi = min(hi, self.to_offsets[partition])
        if self.until_ms is not None:
            hi = min(hi, max((o for o, _, _, ts in records if ts <= self.until_ms), default=-1))
        return hi

    def lower(self, partition: int, records: list[TimedRecord], use_offsets: bool) -> int:
        """Lowest trigger offset whose decisions are compared."""
        lo = 0
        if use_offsets and partition in self.from_offsets:
            lo = self.from_offsets[partition]
        if self.since_ms is not None:
            lo = max(
                lo, min((o for o, _, _, ts in records if ts >= self.since_ms), default=1 << 62)
            )
        return lo


@dataclass
class Report:
    subjects: list[dict[str, Any]] = field(default_factory=list)
    events: int = 0
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for s in self.subjects if s["status"] == status)

    @property
    def ok(self) -> bool:
        return all(s["status"] == "match" for s in self.subjects)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "summary": {k: self.count(k) for k in ("match", "mismatch", "missing", "extra")}
            | {
                "events": self.events,
                "seconds": round(self.seconds, 3),
                "events_per_second": round(self.events / self.seconds, 1) if self.seconds else None,
            },
            "subjects": self.subjects,
        }


def _plain(decision: dict[str, Any]) -> dict[str, Any]:
    d = dict(decision)
    for f in IGNORED_FIELDS:
        d.pop(f, None)
    return d


def _diff(recorded: dict[str, Any], replayed: dict[str, Any]) -> dict[str, Any]:
    return {
        k: {"recorded": recorded.get(k), "replayed": replayed.get(k)}
        for k in sorted(set(recorded) | set(replayed))
        if recorded.get(k) != replayed.get(k)
    }


def _in(trigger: dict[str, Any] | None, topic: str, bounds: dict[int, tuple[int, int]]) -> bool:
    if trigger is None or trigger["topic"] != topic or trigger["partition"] not in bounds:
        return False
    lo, hi = bounds[trigger["partition"]]
    return bool(lo <= trigger["offset"] <= hi)


async def _read_all(conn: Connection, topic: str) -> dict[int, list[TimedRecord]]:
    parts = await partitions_of(conn, topic)
    results = await asyncio.gather(*(read_timed(conn, topic, p, 0, None) for p in parts))
    return dict(zip(parts, results, strict=True))


def derive_data(
    policies: Policies,
    arrivals_topic: str,
    data: dict[int, list[TimedRecord]],
    rng: Range,
    *,
    processes: int | None = None,
    worker_key: bytes | None = None,
) -> tuple[list[dict[str, Any]], dict[int, tuple[int, int]], int]:
    """Data-window decisions (wire form) of every (named) partition. Partitions are independent, so with
    more than one CPU they are derived in parallel in forked processes (`processes`: how many;
    default one per CPU available). The result is the same, in the same order, either way."""
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
    out = [orjson.loads(d) for decisions, _ in results for d in decisions]
    return out, bounds, sum(n for _, n in results)


def eventtime_logic(
    policies: Policies, arrivals_topic: str, worker_key: bytes | None = None
) -> EventTimeLogic:
    """The worker's event-time logic for these policies (the dlq size does not matter here)."""
    models_by_dataset: dict[str, list[str]] = {}
    for model, mp_ in sorted(policies.models.items()):
        for ds in mp_.datasets:
            models_by_dataset.setdefault(ds, []).append(model)
    return EventTimeLogic(
        policies.dataset_specs(),
        policies.data_gates(arrivals_topic),
        models_by_dataset,
        arrivals_topic,
        KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
        worker_key,
    )


_DataJob = tuple[EventTimeLogic, str, int, list[TimedRecord], int, int]
_JOBS: list[_DataJob] = []


def _derive_job(index: int) -> tuple[list[bytes], int]:
    return _derive_partition(*_JOBS[index])


def _derive_partition(
    logic: EventTimeLogic,
    topic: str,
    partition: int,
    records: list[TimedRecord],
    lo: int,
    hi: int,
) -> tuple[list[bytes], int]:
    """One partition from its beginning up to `hi` through the worker's own shell and logic;
    decisions triggered at or after `lo`, in their wire form (cheap to hand back from a child
    process)."""
    shell: Shell[Any] = Shell("replay", logic, restore=logic.restore, keep_changelog=False)
    tp = TopicPartition(topic, partition)
    shell.start(tp)
    recs = [Rec(topic, partition, o, k, v, ts) for o, k, v, ts in records if o <= hi]
    cut = next((i for i, r in enumerate(recs) if r.offset >= lo), len(recs))
    shell.apply_batch(tp, recs[:cut], EPOCH)
    outputs = shell.apply_batch(tp, recs[cut:], EPOCH)
    return [o.value for o in outputs if o.role == "audit" and o.value], len(recs)


def derive_models(
    policies: Policies,
    access: AccessSpec,
    log_topic: str,
    log: dict[int, list[TimedRecord]],
    rng: Range,
) -> tuple[list[dict[str, Any]], dict[int, tuple[int, int]], int]:
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
    return out, bounds, events


def compare(derived: list[dict[str, Any]], recorded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Data windows: every revision exactly. Models and commands: the final outcome per subject.
    Both sides are decisions in their wire form."""
    subjects: list[dict[str, Any]] = []
    rec_exact: dict[tuple[str, int], dict[str, Any]] = {}
    rec_final: dict[str, dict[str, Any]] = {}
    for rec in recorded:
        sid, kind = rec["subject"]["id"], rec["subject"]["kind"]
        previous = rec_exact.get((sid, rec["revision"]))
        if previous is not None and previous["decision_id"] != rec["decision_id"]:
            subjects.append(
                {
                    "subject": sid,
                    "kind": kind,
                    "revision": rec["revision"],
                    "status": "mismatch",
                    "diff": {"conflict": [previous["outcome"], rec["outcome"]]},
                }
            )
        rec_exact[(sid, rec["revision"])] = rec
        if kind != "data_window" and (
            sid not in rec_final or rec["revision"] >= rec_final[sid]["revision"]
        ):
            rec_final[sid] = rec
    der_exact: dict[tuple[str, int], dict[str, Any]] = {}
    der_final: dict[str, dict[str, Any]] = {}
    for dec in derived:
        der_exact[(dec["subject"]["id"], dec["revision"])] = dec
        if dec["subject"]["kind"] != "data_window":
            der_final[dec["subject"]["id"]] = dec
    for key in sorted(set(der_exact) | set(rec_exact)):
        d, r = der_exact.get(key), rec_exact.get(key)
        kind = (d or r or {"subject": {"kind": ""}})["subject"]["kind"]
        if kind != "data_window":
            continue
        entry: dict[str, Any] = {"subject": key[0], "kind": kind, "revision": key[1]}
        if r is None:
            entry["status"] = "missing"
        elif d is None:
            entry["status"] = "extra"
        else:
            diff = _diff(_plain(r), _plain(d))
            entry["status"] = "mismatch" if diff else "match"
            if diff:
                entry["diff"] = diff
        subjects.append(entry)
    for sid in sorted(set(der_final) | set(rec_final)):
        d2, r2 = der_final.get(sid), rec_final.get(sid)
        kind = (d2 or r2 or {"subject": {"kind": ""}})["subject"]["kind"]
        entry = {"subject": sid, "kind": kind}
        if r2 is None:
            entry["status"] = "missing"
        elif d2 is None:
            entry["status"] = "extra"
        elif d2["outcome"] != r2["outcome"]:
            entry |= {
                "status": "mismatch",
                "diff": {"outcome": {"recorded": r2["outcome"], "replayed": d2["outcome"]}},
            }
        else:
            entry["status"] = "match"
        subjects.append(entry)
    return subjects


async def replay(
    conn: Connection,
    catalog: Catalog,
    policies: Policies,
    keys: dict[str, bytes],
    rng: Range,
    *,
    processes: int | None = None,
    worker_key: bytes | None = None,
) -> Report:
    arrivals_topic, log_topic = catalog.name("arrivals"), catalog.name("model_log")
    data, log, audit = await asyncio.gather(
        _read_all(conn, arrivals_topic),
        _read_all(conn, log_topic),
        _read_all(conn, catalog.name("audit")),
    )
    started = time.perf_counter()
    report = Report()
    derived_data, data_bounds, n1 = derive_data(
        policies, arrivals_topic, data, rng, processes=processes, worker_key=worker_key
    )
    derived_models, log_bounds, n2 = derive_models(
        policies, policies.access.spec(keys), log_topic, log, rng
    )
    report.events = n1 + n2
    recorded: list[dict[str, Any]] = []
    for records in audit.values():
        for _, _, value, _ in records:
            r = orjson.loads(value or b"{}")
            trig = r.get("trigger")
            if _in(trig, arrivals_topic, data_bounds) or _in(trig, log_topic, log_bounds):
                recorded.append(r)
    report.subjects = compare(derived_data + derived_models, recorded)
    report.seconds = time.perf_counter() - started
    return report


def parse_offsets(values: list[str] | None, flag: str) -> dict[int, int]:
    out: dict[int, int] = {}
    for v in values or []:
        p, sep, o = v.partition(":")
        if not sep or not p.isdigit() or not o.isdigit():
            raise ValueError(f"{flag} {v!r}: expected PARTITION:OFFSET, e.g. 0:120")
        out[int(p)] = int(o)
    return out


def render(report: Report) -> str:
    lines = []
    by_status: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in report.subjects:
        by_status[s["status"]].append(s)
    for status in ("mismatch", "missing", "extra"):
        for s in by_status[status]:
            rev = f" rev {s['revision']}" if "revision" in s else ""
            lines.append(f"{status:8} {s['kind']:13} {s['subject']}{rev}")
            for k, v in (s.get("diff") or {}).items():
                lines.append(
                    f"         {k}: recorded {_short(v, 'recorded')} | replayed {_short(v, 'replayed')}"
                )
    j = report.as_json()["summary"]
    lines.append(
        f"replay: {j['match']} match, {j['mismatch']} mismatch, {j['missing']} missing, {j['extra']} extra; "
        f"{report.events} events re-decided in {report.seconds:.3f} s ({j['events_per_second']} events/s)"
    )
    lines.append("replay verdict: " + ("MATCH" if report.ok else "MISMATCH"))
    return "\n".join(lines)


def _short(v: Any, key: str) -> str:
    x = v.get(key) if isinstance(v, dict) else v
    text = orjson.dumps(x).decode()
    return text if len(text) <= 120 else text[:117] + "..."
