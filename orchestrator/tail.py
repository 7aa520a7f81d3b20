"""`orchestrator tail ROLE`: the records of one topic of the catalog, as a person or a script
reads them, without writing a consumer.

The filter and the rendering are pure (`matches`, `render`): a record is a `Seen` (partition,
offset, broker time, key, value bytes) and the output is one line per record. The reader
(`tail`) takes the last `n` records of every partition (or all, or from a time), prints them in
time order, and with `follow` keeps printing what arrives until interrupted. It reads without a
consumer group (assign and seek), `read_committed`: nothing is committed and nobody's offsets
move.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import TopicPartition

from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.roles import ROLES, Role
from orchestrator.errors import OrchestratorError
from orchestrator.kafka.clients import Connection, quietly
from orchestrator.kafka.read import TimedRecord, partitions_of, stream_timed

#: the roles `tail` reads by default name, and what each is called in help
TAIL_ROLES: dict[str, Role] = {
    "windows": "windows",
    "late": "late",
    "dlq": "dlq",
    "audit": "audit",
    "decisions": "audit",
    "champions": "champions",
    "training": "training",
    "arrivals": "arrivals",
    "updates": "model_updates",
    "model_updates": "model_updates",
    "commands": "commands",
    "model_log": "model_log",
}


class UnknownRole(OrchestratorError):
    """`tail` of a role (or topic name) the catalog does not have."""


def role_of(name: str, catalog: Catalog) -> Role:
    """The role a name on the command line means: a role (`windows`, `dlq`, `audit`...) or a
    topic name of the catalog (`data.windows`)."""
    if name in TAIL_ROLES:
        return TAIL_ROLES[name]
    for role in ROLES:
        if catalog.name(role) == name:
            return role
    known = ", ".join(sorted(TAIL_ROLES))
    raise UnknownRole(f"tail: {name!r}: not a role or a topic of the catalog (roles: {known})")


@dataclass(frozen=True)
class Seen:
    """One record as `tail` read it."""

    topic: str
    partition: int
    offset: int
    #: ms (the broker's time on the catalog's topics); -1 when the record has none
    timestamp: int
    key: bytes | None
    value: bytes | None

    def decoded(self) -> Any:
        """The value as JSON, or None when it is not JSON (a dlq holds such bytes)."""
        if self.value is None:
            return None
        try:
            return orjson.loads(self.value)
        except orjson.JSONDecodeError:
            return None


@dataclass(frozen=True)
class Filters:
    """Keep a record only if it is of this dataset, model, code and outcome (None: any)."""

    dataset: str | None = None
    model: str | None = None
    code: str | None = None
    outcome: str | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.dataset, self.model, self.code, self.outcome))


def _original(value: dict[str, Any]) -> Any:
    """A dlq envelope's original value as JSON, when it was JSON and is whole."""
    raw = value.get("original")
    if not isinstance(raw, str) or value.get("original_truncated"):
        return None
    try:
        return orjson.loads(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError):
        return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def dataset_of(value: Any) -> str | None:
    """The dataset a record is about: an arrival's or watermark's, a window's, a late
    arrival's, a data decision's (its window id starts with it), a dlq original's."""
    if not isinstance(value, dict):
        return None
    if "dataset" in value:
        return _str(value["dataset"])
    kind = value.get("type")
    if kind == "data.late" and isinstance(value.get("event"), dict):
        return _str(value["event"].get("dataset"))
    if kind == "audit.decision":
        subject = value.get("subject") or {}
        if isinstance(subject, dict) and subject.get("kind") == "data_window":
            window = _str(subject.get("id"))
            return window.partition("/")[0] if window else None
        return None
    if kind == "dlq.record":
        return dataset_of(_original(value))
    return None


def model_of(value: Any) -> str | None:
    """The model a record is about: an update's, a performance interval's, a command's, a
    decision's, a champion's, a training request's, a dlq original's."""
    if not isinstance(value, dict):
        return None
    if "model" in value:
        return _str(value["model"])
    if value.get("type") == "dlq.record":
        return model_of(_original(value))
    return None


def codes_of(value: Any) -> set[str]:
    """The codes a record carries: a dlq's or a late arrival's code, a decision's failed
    checks' codes."""
    if not isinstance(value, dict):
        return set()
    codes = {value["code"]} if isinstance(value.get("code"), str) else set()
    for check in value.get("checks") or []:
        if isinstance(check, dict) and not check.get("passed", True):
            code = check.get("code")
            if isinstance(code, str):
                codes.add(code)
    return codes


def matches(record: Seen, filters: Filters) -> bool:
    if not filters:
        return True
    value = record.decoded()
    if filters.dataset is not None and dataset_of(value) != filters.dataset:
        return False
    if filters.model is not None and model_of(value) != filters.model:
        return False
    if filters.code is not None and filters.code not in codes_of(value):
        return False
    return not (
        filters.outcome is not None
        and (not isinstance(value, dict) or value.get("outcome") != filters.outcome)
    )


def _time(ms: int) -> str:
    if ms < 0:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:23] + "Z"


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(raw).decode()


def as_json(record: Seen) -> bytes:
    """One JSON line: where the record is, its broker time, key, and value (as JSON when it
    is JSON, else as text or `base64:...`)."""
    value = record.decoded()
    return orjson.dumps(
        {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "timestamp": _time(record.timestamp),
            "key": _text(record.key),
            "value": value if value is not None else _text(record.value),
        }
    )


def _summary(value: dict[str, Any]) -> str:
    kind = value.get("type")
    if kind == "data.window":
        return (
            f"window {value.get('window_id')} rev {value.get('revision')} "
            f"records {value.get('record_total')} arrivals {len(value.get('arrivals') or [])} "
            f"sources {','.join(value.get('sources') or [])}"
        )
    if kind == "data.late":
        event = value.get("event") or {}
        return f"{value.get('code')} {value.get('window_id')} event {event.get('event_id')}"
    if kind == "dlq.record":
        where = f"{value.get('topic')}[{value.get('partition')}]@{value.get('offset')}"
        return f"{value.get('code')} {where} {value.get('message')}"
    if kind == "audit.decision":
        subject = value.get("subject") or {}
        failed = sorted(codes_of(value))
        line = (
            f"{value.get('outcome')} {subject.get('kind')} {subject.get('id')} "
            f"rev {value.get('revision')} {value.get('decision_id')}"
        )
        champion = value.get("champion_after")
        if champion != value.get("champion_before"):
            line += f" champion {value.get('champion_before')} -> {champion}"
        return line + (f" failed {','.join(failed)}" if failed else "")
    if kind == "model.champion":
        challenger = f" challenger {value['challenger']}" if value.get("challenger") else ""
        return (
            f"champion {value.get('model')} {value.get('version') or '(none)'}{challenger} "
            f"since {value.get('since')}"
        )
    if kind == "training.requested":
        return (
            f"training {value.get('model')} reason {value.get('reason') or 'every'} "
            f"windows {len(value.get('windows') or [])} {value.get('request_id')}"
        )
    return orjson.dumps(value).decode()


def render(record: Seen) -> str:
    """One line for a person: time, topic[partition]@offset, and what the record says."""
    where = f"{_time(record.timestamp)} {record.topic}[{record.partition}]@{record.offset}"
    value = record.decoded()
    if isinstance(value, dict):
        return f"{where} {_summary(value)}"
    if record.value is None:
        return f"{where} (tombstone) key {_text(record.key)}"
    return f"{where} {(_text(record.value) or '')[:200]}"


@dataclass(frozen=True)
class Start:
    """Where reading starts in each partition: the last `last` records, or every record at or
    after `since_ms` (broker time), or the beginning (`last` None, `since_ms` None)."""

    last: int | None = 10
    since_ms: int | None = None


async def tail(
    conn: Connection,
    topic: str,
    start: Start,
    filters: Filters,
    emit: Callable[[Seen], None],
    *,
    follow: bool = False,
    idle_ms: int = 300,
    stop: asyncio.Event | None = None,
) -> int:
    """Emit the records of `topic` from `start` that pass `filters`, in broker time order;
    with `follow`, then every record as it arrives until `stop` is set (or the task is
    cancelled). Returns how many were emitted. With `last`, the count applies after the
    filters: the last `last` matching records of the topic (read back as far as needed)."""
    parts = await partitions_of(conn, topic)
    if not parts:
        raise UnknownRole(f"tail: topic {topic!r} does not exist on the broker")
    tps = [TopicPartition(topic, p) for p in parts]
    ends = await _ends(conn, tps)
    backlog: list[Seen] = []
    for tp in tps:
        first = await _first_offset(conn, tp, start)
        # following: up to the end offset seen now (then from there); else drained to the end
        end = ends[tp] if follow else None
        backlog += await _matching(conn, tp, first, end, start, filters)
    backlog.sort(key=lambda r: (r.timestamp, r.partition, r.offset))
    if start.last is not None:
        backlog = backlog[-start.last :] if start.last else []
    for record in backlog:
        emit(record)
    emitted = len(backlog)
    if follow:
        emitted += await _follow(conn, tps, ends, filters, emit, idle_ms, stop)
    return emitted


async def _ends(conn: Connection, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    consumer = conn.consumer(enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(tps))
    finally:
        await quietly(consumer.stop())


async def _first_offset(conn: Connection, tp: TopicPartition, start: Start) -> int:
    """The offset reading starts at for `start.since_ms` (0 otherwise; `last` reads back from
    the end in `_matching`)."""
    if start.since_ms is None:
        return 0
    consumer = conn.consumer(enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        found = (await consumer.offsets_for_times({tp: start.since_ms})).get(tp)
        if found is not None:
            return int(found.offset)
        return int((await consumer.end_offsets([tp]))[tp])
    finally:
        await quietly(consumer.stop())


async def _matching(
    conn: Connection, tp: TopicPartition, first: int, end: int | None, start: Start, f: Filters
) -> list[Seen]:
    """The records of `tp` from `first` that pass the filters. For the last `n` (from the
    beginning otherwise): read back from the end, four times further each time, until `n`
    match or the partition's start is reached (markers and filtered records take offsets)."""
    since = start.since_ms

    async def read(lo: int, hi: int | None) -> list[Seen]:
        out: list[Seen] = []
        async for chunk in stream_timed(conn, tp.topic, tp.partition, lo, hi):
            # the time is checked here too: the embedded broker answers offsets_for_times
            # with offsets before the time asked
            out += (
                s
                for r in chunk
                if (since is None or r.timestamp >= since) and matches(s := _seen(tp, r), f)
            )
        return out

    want = start.last
    if want is None or start.since_ms is not None:
        return await read(first, end)
    if want == 0:
        return []
    high = end if end is not None else (await _ends(conn, [tp]))[tp]
    back = want
    while True:
        lo = max(0, high - back)
        found = await read(lo, end)
        if len(found) >= want or lo == 0:
            return found
        back *= 4


def _seen(tp: TopicPartition, r: TimedRecord) -> Seen:
    return Seen(tp.topic, tp.partition, r.offset, r.timestamp, r.key, r.value)


async def _follow(
    conn: Connection,
    tps: list[TopicPartition],
    ends: dict[TopicPartition, int],
    filters: Filters,
    emit: Callable[[Seen], None],
    idle_ms: int,
    stop: asyncio.Event | None,
) -> int:
    """Every record past `ends` as it arrives (partition by partition within a poll)."""
    consumer = conn.consumer(enable_auto_commit=False, group_id=None, max_poll_records=2000)
    await consumer.start()
    emitted = 0
    try:
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, ends[tp])
        while stop is None or not stop.is_set():
            batch = await consumer.getmany(timeout_ms=idle_ms)
            for tp, records in sorted(batch.items(), key=lambda kv: kv[0].partition):
                for r in records:
                    seen = Seen(tp.topic, tp.partition, r.offset, r.timestamp, r.key, r.value)
                    if matches(seen, filters):
                        emit(seen)
                        emitted += 1
    finally:
        await quietly(consumer.stop())
    return emitted
