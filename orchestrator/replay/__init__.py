"""`orchestrator replay`: re-derive, with the same core the worker runs, what the worker wrote,
and prove it matches.

Inputs: `data.arrivals` (every data-window decision is a pure function of its partition and the
dataset policy), `models.updates` and `commands` (what the router forwards), and `models.log`
(the model gate's ordered input). Checked: every data decision and every model and command
decision, revision by revision and field by field against `audit.decisions`; and `models.log`
itself against the records it was built from (see `replay.modellog`). Topics are read directly
with assign + seek: no consumer group, no side effects.

Ranges: decisions depend on state built by earlier events, so each partition is always read
from its beginning up to the end bound; the bounds select which decisions are compared: those
whose trigger (the event that caused them, recorded in `trigger`) lies inside the range.
`--from-offset/--to-offset P:O` bound `data.arrivals` partitions (inclusive; only the named
partitions are compared; model decisions are compared whole); `--since/--until` bound both topics
by broker timestamp. `models.log` is checked only when no range is given (a range cuts the log
and its sources at different places).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson

from orchestrator.catalog.topics import Catalog
from orchestrator.kafka.clients import Connection
from orchestrator.pipeline import collector
from orchestrator.policies import Policies
from orchestrator.replay.compare import IGNORED_FIELDS, Comparison, compare
from orchestrator.replay.derive import Derived, LogEntry, derive_data, derive_models, route
from orchestrator.replay.modellog import LogCheck, check_log
from orchestrator.replay.ranges import Range, parse_offsets
from orchestrator.replay.snapshots import Found, find_snapshots
from orchestrator.replay.sources import KafkaSource, MemorySource, Source

__all__ = [
    "IGNORED_FIELDS",
    "Comparison",
    "Derived",
    "KafkaSource",
    "LogEntry",
    "MemorySource",
    "Range",
    "Report",
    "check_log",
    "compare",
    "derive_data",
    "derive_models",
    "parse_offsets",
    "render",
    "replay",
]


@dataclass
class Report:
    subjects: list[dict[str, Any]] = field(default_factory=list)
    events: int = 0
    seconds: float = 0.0
    #: the models.log check's counts (empty: not checked, a range was given)
    log: dict[str, int] = field(default_factory=dict)
    #: with --since: the snapshot each data.arrivals partition started from, and how many
    #: snapshots failed to verify (empty: none looked for)
    snapshots: dict[str, Any] = field(default_factory=dict)

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
            "models_log": {"checked": bool(self.log), **self.log},
            "snapshots": self.snapshots,
            "subjects": self.subjects,
        }


def _in(trigger: dict[str, Any] | None, topic: str, bounds: dict[int, tuple[int, int]]) -> bool:
    if trigger is None or trigger["topic"] != topic or trigger["partition"] not in bounds:
        return False
    lo, hi = bounds[trigger["partition"]]
    return bool(lo <= trigger["offset"] <= hi)


def replay(
    conn: Connection | Source,
    catalog: Catalog,
    policies: Policies,
    keys: dict[str, bytes],
    rng: Range,
    *,
    processes: int | None = None,
    worker_key: bytes | None = None,
    use_snapshots: bool = True,
) -> Report:
    """Derive, check and compare (see the module's docstring). Every topic is read a chunk at a
    time, so memory is the core's live state plus the decisions compared, not the log. With
    `--since`, each `data.arrivals` partition starts from its nearest earlier verified snapshot
    (if there is one and `use_snapshots`)."""
    source = KafkaSource(conn) if isinstance(conn, Connection) else conn
    collector.tune()  # the worker's collector settings: the core's state is long-lived
    arrivals_topic, log_topic = catalog.name("arrivals"), catalog.name("model_log")
    routed = {catalog.name(r): r for r in ("model_updates", "commands")}
    started = time.perf_counter()
    report = Report()
    found = Found()
    if use_snapshots and rng.since_ms is not None:
        found = find_snapshots(source, catalog.name("snapshots"), arrivals_topic, rng.since_ms)
        report.snapshots = {
            "used": {str(p): s.describe() for p, s in sorted(found.by_partition.items())},
            "rejected": found.rejected,
        }
    data_side = derive_data(
        policies,
        arrivals_topic,
        source,
        rng,
        processes=processes,
        worker_key=worker_key,
        snapshots=found.by_partition,
    )
    log_check = LogCheck(log_topic) if rng.whole else None
    if log_check is not None:
        log_check.expect(route(routed, source) + data_side.log)
    model_side = derive_models(
        policies,
        policies.access.spec(keys),
        log_topic,
        source,
        rng,
        seen=log_check.see if log_check is not None else None,
    )
    report.events = data_side.events + model_side.events
    comparison = Comparison(data_side.wire + model_side.wire)
    audit_topic = catalog.name("audit")
    for partition in source.partitions(audit_topic):
        for chunk in source.chunks(audit_topic, partition):
            for _, _, value, _ in chunk:
                r = orjson.loads(value or b"{}")
                trig = r.get("trigger")
                if _in(trig, arrivals_topic, data_side.bounds) or _in(
                    trig, log_topic, model_side.bounds
                ):
                    comparison.record(r)
    report.subjects = comparison.subjects()
    if log_check is not None:
        subjects, report.log = log_check.result()
        report.subjects += subjects
    report.seconds = time.perf_counter() - started
    return report


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
    if report.snapshots:
        used = report.snapshots["used"]
        starts = ", ".join(
            f"[{p}]@{s['position']} (taken {s['taken_at']})"
            for p, s in sorted(used.items(), key=lambda x: int(x[0]))
        )
        lines.append(
            f"snapshots: {len(used)} data.arrivals partitions started from one"
            + (f": {starts}" if starts else "")
            + (
                f"; {report.snapshots['rejected']} failed to verify"
                if report.snapshots["rejected"]
                else ""
            )
        )
    if report.log:
        c = report.log
        lines.append(
            f"models.log: {c['entries']} entries; {c['match']} as derived, {c['missing']} missing, "
            f"{c['extra']} extra, {c['mismatch']} changed, {c['out_of_order']} out of order, "
            f"{c['duplicates']} repeated"
        )
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
