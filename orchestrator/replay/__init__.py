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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import orjson

from orchestrator.catalog.topics import Catalog
from orchestrator.errors import E_UNTRUSTED_TIME
from orchestrator.kafka.clients import Connection
from orchestrator.pipeline import collector
from orchestrator.pipeline.build import Logics
from orchestrator.pipeline.recordtime import BrokerTime, RecordedProducerTime, RecordTime
from orchestrator.policies import Policies
from orchestrator.replay.compare import IGNORED_FIELDS, Comparison, compare
from orchestrator.replay.derive import Derived, derive_data, derive_models, route
from orchestrator.replay.ledger import Ledger, LogEntry
from orchestrator.replay.modellog import LogCheck, check_log
from orchestrator.replay.ranges import Range, parse_offsets
from orchestrator.replay.snapshots import Found, find_snapshots
from orchestrator.replay.sources import KafkaSource, MemorySource, Source

__all__ = [
    "IGNORED_FIELDS",
    "Comparison",
    "Derived",
    "KafkaSource",
    "Ledger",
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
    """What replay found. The subjects live in the ledger (on disk) until `close()`: `subjects`
    reads them all, `write_json` streams them."""

    ledger: Ledger = field(default_factory=Ledger)
    events: int = 0
    seconds: float = 0.0
    #: the models.log check's counts (empty: not checked, a range was given)
    log: dict[str, int] = field(default_factory=dict)
    #: with --since: the snapshot each data.arrivals partition started from, and how many
    #: snapshots failed to verify (empty: none looked for)
    snapshots: dict[str, Any] = field(default_factory=dict)

    @property
    def subjects(self) -> list[dict[str, Any]]:
        return list(self.ledger.subjects())

    def problems(self) -> Iterator[dict[str, Any]]:
        return self.ledger.subjects(problems_only=True)

    def count(self, status: str) -> int:
        return self.ledger.count(status)

    @property
    def ok(self) -> bool:
        return next(self.problems(), None) is None

    def summary(self) -> dict[str, Any]:
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
        }

    def as_json(self) -> dict[str, Any]:
        return self.summary() | {"subjects": self.subjects}

    def write_json(self, path: Path) -> None:
        """The report as `as_json()` gives it, written a subject at a time."""
        head = orjson.dumps(self.summary(), option=orjson.OPT_INDENT_2)
        with path.open("wb") as out:
            out.write(head[:-2] + b',\n  "subjects": [')
            for i, s in enumerate(self.ledger.subjects()):
                out.write((b",\n    " if i else b"\n    ") + orjson.dumps(s))
            out.write(b"\n  ]\n}\n")

    def close(self) -> None:
        self.ledger.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
    record_time: str = "broker",
) -> Report:
    """Derive, check and compare (see the module's docstring). Every topic is read a chunk at a
    time and what is compared is kept in the report's ledger, on disk: memory is the core's live
    state, not the log. With `--since`, each `data.arrivals` partition starts from its nearest
    earlier verified snapshot (if there is one and `use_snapshots`). `record_time` is the
    worker's setting: with `producer`, the worker's clock judgements are read back from the dlq
    and the router's times from `models.log`. Close the report (or use it as a context
    manager) to remove its ledger."""
    source = KafkaSource(conn) if isinstance(conn, Connection) else conn
    collector.tune()  # the worker's collector settings: the core's state is long-lived
    started = time.perf_counter()
    report = Report()
    try:
        times: RecordTime = BrokerTime()
        if record_time == "producer":
            times = RecordedProducerTime(clock_refusals(source, catalog))
        logics = Logics(policies, catalog, keys, worker_key, times)
        _replay(report, source, logics, rng, processes, use_snapshots, record_time == "producer")
    except BaseException:
        report.close()
        raise
    report.seconds = time.perf_counter() - started
    return report


def clock_refusals(source: Source, catalog: Catalog) -> set[tuple[str, int, int]]:
    """(topic, partition, offset) of every input record the dlq says the worker refused on
    its clock (E_UNTRUSTED_TIME): under record_time=producer, its clock's judgements."""
    out: set[tuple[str, int, int]] = set()
    dlq = catalog.name("dlq")
    for partition in source.partitions(dlq):
        for chunk in source.chunks(dlq, partition):
            for _, _, value, *_ in chunk:
                try:
                    r = orjson.loads(value or b"{}")
                except orjson.JSONDecodeError:
                    continue
                if isinstance(r, dict) and r.get("code") == E_UNTRUSTED_TIME:
                    out.add(
                        (str(r.get("topic")), int(r.get("partition", -1)), int(r.get("offset", -1)))
                    )
    return out


def _replay(
    report: Report,
    source: Source,
    logics: Logics,
    rng: Range,
    processes: int | None,
    use_snapshots: bool,
    producer_time: bool,
) -> None:
    catalog = logics.catalog
    arrivals_topic, log_topic = catalog.name("arrivals"), catalog.name("model_log")
    ledger = report.ledger
    found = Found()
    if use_snapshots and rng.since_ms is not None:
        found = find_snapshots(source, catalog.name("snapshots"), arrivals_topic, rng.since_ms)
        report.snapshots = {
            "used": {str(p): s.describe() for p, s in sorted(found.by_partition.items())},
            "rejected": found.rejected,
        }
    data_side = derive_data(
        logics,
        source,
        rng,
        processes=processes,
        snapshots=found.by_partition,
        ledger=ledger,
        notices=rng.whole,
    )
    log_check = LogCheck(log_topic, ledger, timestamps=not producer_time) if rng.whole else None
    if log_check is not None:
        route(logics, source, ledger)
    model_side = derive_models(
        logics,
        source,
        rng,
        seen=log_check.see if log_check is not None else None,
        ledger=ledger,
    )
    report.events = data_side.events + model_side.events
    comparison = Comparison(ledger)
    audit_topic = catalog.name("audit")
    for partition in source.partitions(audit_topic):
        for chunk in source.chunks(audit_topic, partition):
            with ledger.batch():
                for _, _, value, *_ in chunk:
                    r = orjson.loads(value or b"{}")
                    trig = r.get("trigger")
                    if _in(trig, arrivals_topic, data_side.bounds) or _in(
                        trig, log_topic, model_side.bounds
                    ):
                        comparison.record(r)
    comparison.finish()
    if log_check is not None:
        report.log = log_check.result()


def render(report: Report) -> str:
    lines = []
    for status in ("mismatch", "missing", "extra"):
        for s in report.ledger.subjects(status=status):
            rev = f" rev {s['revision']}" if "revision" in s else ""
            lines.append(f"{status:8} {s['kind']:13} {s['subject']}{rev}")
            for k, v in (s.get("diff") or {}).items():
                lines.append(
                    f"         {k}: recorded {_short(v, 'recorded')} | replayed {_short(v, 'replayed')}"
                )
    j = report.summary()["summary"]
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
