"""The record types that cross the pipeline: an input record with its position, an output
record with its topic role, and what applying one input produced."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol

from orchestrator.contracts.dlq import envelope
from orchestrator.contracts.records import SourceOffset
from orchestrator.contracts.roles import Role
from orchestrator.core.effects import Effect, StateDelete, StatePut


class InputRecord(Protocol):
    """One record of an input topic with its position (aiokafka's ConsumerRecord is one)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def timestamp_type(self) -> int: ...


@dataclass(slots=True)
class Rec:
    """An input record read back from a topic (recovery, replay, tests). Not frozen: one is
    built per record replayed, and nothing changes it after (a frozen dataclass sets each field
    through object.__setattr__, several times slower)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int = -1
    #: who set `timestamp`: 1 the broker (LogAppendTime), 0 the sender (CreateTime)
    timestamp_type: int = 1


class Output(NamedTuple):
    """One output record: the catalog role of its topic, its key and value."""

    role: Role
    key: bytes | None
    value: bytes | None


StateChange = StatePut | StateDelete


@dataclass(slots=True)
class Applied:
    """What one input record produced: output records in order, state changes, the core's
    effects (for the shell's logs and metrics), and the record's fate for counting."""

    event_type: str
    fate: str
    outputs: list[Output] = field(default_factory=list)
    state: list[StateChange] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    #: the dlq code, when the record went to the dlq
    code: str | None = None
    #: the event id of an invalid record, when one could be read (for the log line)
    event_id: str | None = None
    #: the decoded input the effects came from, when the shell reports what it said (the
    #: figures of a model.performance interval)
    item: object | None = None


def record_key(record: InputRecord) -> str | None:
    """The record's key as text (None: no key, or not UTF-8)."""
    try:
        return record.key.decode() if record.key is not None else None
    except UnicodeDecodeError:
        return None


def broker_ms(record: InputRecord) -> int | None:
    """The record's timestamp in ms, None when the record carries none (-1). Whether to trust
    it is `recordtime`'s question: this is for metrics and ranges."""
    ts = record.timestamp
    return ts if ts is not None and ts >= 0 else None


def dlq_output(
    record: InputRecord,
    code: str,
    message: str,
    event_id: str | None,
    now: datetime,
    limit: int,
    *,
    value: bytes | None = None,
    source: SourceOffset | None = None,
) -> Output:
    """The dlq envelope of an input: the record itself, or (for a models.log entry) the event
    it carries at the position it was first read from."""
    key, body = envelope(
        code=code,
        message=message,
        event_id=event_id,
        value=record.value if value is None else value,
        key=record.key,
        topic=source.topic if source else record.topic,
        partition=source.partition if source else record.partition,
        offset=source.offset if source else record.offset,
        at=now,
        max_bytes=limit,
    )
    return Output("dlq", key, body)
