"""The shell around one pipeline logic: its engines per input partition, the state staged for
the changelog, and failure confined to the record. No IO: the worker's inputs (worker/ingest.py)
and replay drive it alike.

- `apply_batch` runs the logic's one hook over records in offset order, without awaiting, and
  returns the output records; the state changes they made are staged per partition.
- A record whose handling raises (our bug) goes to the dlq as `E_INTERNAL`, and the partition
  moves on from the state before that record: the part of the engine the record could touch
  (its scope: the dataset or model it is keyed by) is rebuilt from `shadow`, the partition's
  state as changelog entries grouped by scope (what restore would read back). That costs the
  scope's state, not the partition's. Replay does the same.
- A record whose outputs would not fit their topics (`limits`: role -> largest record) is
  refused the same way, with `E_OUTPUT_TOO_LARGE`: never sent, so never retried.
- `take_checkpoint` hands over what changed since the last one: puts (serialized) with the
  input position last, and deletes. Deletes are garbage collection only (restore applies the
  same rule again), so the sink may write them after, and apart from, the puts.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import orjson
import structlog
from aiokafka import TopicPartition

from orchestrator.contracts.codec import cut
from orchestrator.contracts.roles import Role
from orchestrator.core.effects import StatePut
from orchestrator.core.position import POSITION_KEY
from orchestrator.errors import E_INTERNAL, E_OUTPUT_TOO_LARGE
from orchestrator.pipeline.observer import Observer
from orchestrator.pipeline.records import Applied, InputRecord, Output, StateChange, dlq_output
from orchestrator.pipeline.snapshot import snapshot_records

log = structlog.get_logger("orchestrator.shell")


class Engine(Protocol):
    position: int

    def skip(self, offset: int) -> None: ...


#: what a Kafka record batch of one record adds to its key and value, at most
RECORD_FRAMING_BYTES = 512
#: the scope of the position entry (and of every key of a logic that has no scopes)
WHOLE = ""


E = TypeVar("E", bound=Engine)
E_contra = TypeVar("E_contra", bound=Engine, contravariant=True)
E_co = TypeVar("E_co", bound=Engine, covariant=True)


class Logic(Protocol[E]):
    dlq_limit: int

    def new_engine(self) -> E: ...

    def apply(self, engine: E, record: InputRecord, now: datetime) -> Applied: ...


@runtime_checkable
class Stateful(Protocol[E_co]):
    """A logic whose engines keep state: rebuilt from the changelog's latest entries."""

    def restore(self, entries: list[tuple[str, Any]]) -> E_co: ...


class Scoped(Protocol[E_contra]):
    """A logic whose records each touch one scope of the engine (the dataset or model the
    record is keyed by), so that a failed record costs a rebuild of that scope only."""

    def scope(self, key: str) -> str:
        """The scope of a changelog key."""
        ...

    def record_scope(self, record: InputRecord) -> str | None:
        """The scope a record may touch (None: it cannot be told; rebuild everything)."""
        ...

    def rebuild(self, engine: E_contra, scope: str, entries: list[tuple[str, Any]]) -> None:
        """Replace the engine's `scope` by one rebuilt from its changelog entries."""
        ...


@dataclass(slots=True)
class Dirty:
    """State of one partition changed since the last checkpoint."""

    puts: dict[str, bytes] = field(default_factory=dict)
    deletes: set[str] = field(default_factory=set)
    size: int = 0


@dataclass(slots=True)
class Checkpoint:
    """One partition's changes, ready to write: puts (position last), then deletes."""

    tp: TopicPartition
    puts: list[tuple[bytes, bytes]]
    deletes: list[bytes]
    position: int


class Shell(Generic[E]):
    """Engines per partition of one input, driven through `logic`. A logic with `restore`
    (`Stateful`) keeps state, rebuilt from changelog entries; one without is a stateless input,
    whose position is the committed offset. `observer` hears what happened (the worker's
    metrics and logs); replay and tests leave it out."""

    def __init__(
        self,
        name: str,
        logic: Logic[E],
        *,
        observer: Observer[E] | None = None,
        keep_changelog: bool = True,
        limits: Mapping[Role, int] | None = None,
    ) -> None:
        self.name = name
        self.logic = logic
        self._stateful: Stateful[E] | None = logic if isinstance(logic, Stateful) else None
        #: topic role -> the largest record its topic takes (None: not checked)
        self.limits = limits
        scoped = all(hasattr(logic, m) for m in ("scope", "record_scope", "rebuild"))
        self._scoped: Scoped[E] | None = logic if scoped else None  # type: ignore[assignment]
        self.observer: Observer[E] = observer or Observer()
        #: False (replay): state is only kept as entries, nothing is staged for a changelog
        self.keep_changelog = keep_changelog
        self.engines: dict[TopicPartition, E] = {}
        #: each partition's state as changelog entries, by scope (stateful inputs only)
        self.shadow: dict[TopicPartition, dict[str, dict[str, Any]]] = {}
        self.dirty: dict[TopicPartition, Dirty] = {}
        #: stateless inputs: the position last handed to a checkpoint
        self._taken: dict[TopicPartition, int] = {}

    @property
    def stateful(self) -> bool:
        return self._stateful is not None

    # -- partitions -------------------------------------------------------------------------

    def restore(self, tp: TopicPartition, entries: dict[str, Any]) -> E:
        """Install the engine rebuilt from `entries` (the changelog's latest value per key)."""
        assert self._stateful is not None
        engine = self._stateful.restore(list(entries.items()))
        self.engines[tp] = engine
        self.observer.restored(engine)
        shadow: dict[str, dict[str, Any]] = {}
        scope = self._scoped.scope if self._scoped is not None else None
        for key, value in entries.items():
            part = WHOLE if scope is None or key == POSITION_KEY else scope(key)
            shadow.setdefault(part, {})[key] = value
        self.shadow[tp] = shadow
        self.dirty[tp] = Dirty()
        return engine

    def entries(self, tp: TopicPartition) -> dict[str, Any]:
        """The partition's state as changelog entries (what restore would read back)."""
        return {k: v for part in self.shadow[tp].values() for k, v in part.items()}

    def start(self, tp: TopicPartition, position: int = 0) -> E:
        """A partition starting afresh at `position` (a stateless one at its committed offset,
        a stateful one with empty state: replay)."""
        engine = self.logic.new_engine()
        engine.position = position
        self.engines[tp] = engine
        if self.stateful:
            self.shadow[tp] = {}
            self.dirty[tp] = Dirty()
        return engine

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        """Drop partitions whose state is not ours any more (revoked, or lost with the broker):
        what was not checkpointed is re-derived by whoever restores them."""
        for tp in list(tps):
            self._taken.pop(tp, None)
            engine = self.engines.pop(tp, None)
            if engine is not None:
                self.observer.forgotten(engine)
            self.shadow.pop(tp, None)
            self.dirty.pop(tp, None)

    def position(self, tp: TopicPartition) -> int | None:
        engine = self.engines.get(tp)
        return engine.position if engine is not None else None

    # -- records ----------------------------------------------------------------------------

    def apply_batch(
        self, tp: TopicPartition, records: Sequence[InputRecord], now: datetime
    ) -> list[Output]:
        """Records of one partition in offset order; those below the engine's position are
        already reflected in its state (re-delivery) and skipped. Returns the output records."""
        engine = self.engines[tp]
        apply, observe, stage = self.logic.apply, self.observer.applied, self.stage
        limits = self.limits
        outputs: list[Output] = []
        handled = False
        for record in records:
            if record.offset < engine.position:
                continue
            handled = True
            try:
                applied = apply(engine, record, now)
            except Exception as exc:  # our bug: confined to this record
                outputs.append(self._internal(tp, record, exc, now))
                engine = self.engines[tp]
                continue
            if limits is not None and applied.outputs:
                too_large = _too_large(applied.outputs, limits)
                if too_large is not None:
                    outputs.append(self._refuse(tp, record, too_large, now))
                    engine = self.engines[tp]
                    continue
            if applied.state:
                stage(tp, applied.state)
            outputs += applied.outputs
            observe(applied, record)
        if handled and self.stateful:
            self._stage_position(tp, engine.position)
        self.observer.batch_done()
        return outputs

    def _internal(
        self, tp: TopicPartition, record: InputRecord, exc: Exception, now: datetime
    ) -> Output:
        """E_INTERNAL: the record to the dlq, the engine back to the state before it."""
        message = cut(f"{type(exc).__name__}: {exc}", 500)
        where = traceback.format_exception(exc)[-2].strip()[:300]
        return self._to_dlq(
            tp, record, E_INTERNAL, message, now, "record handling failed", where=where
        )

    def _refuse(self, tp: TopicPartition, record: InputRecord, why: str, now: datetime) -> Output:
        """E_OUTPUT_TOO_LARGE: the record to the dlq, the engine back to the state before it."""
        event = "record refused: an output would not fit its topic"
        return self._to_dlq(tp, record, E_OUTPUT_TOO_LARGE, why, now, event)

    def _to_dlq(
        self,
        tp: TopicPartition,
        record: InputRecord,
        code: str,
        message: str,
        now: datetime,
        event: str,
        **context: str,
    ) -> Output:
        """Logged and counted under `code`; the state the record changed rolled back; the
        record to the dlq with `message`."""
        log.error(
            event,
            input=self.name,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            code=code,
            error=message,
            **context,
        )
        self.observer.refused(code)
        self._roll_back(tp, record)
        return dlq_output(record, code, message, None, now, self.logic.dlq_limit)

    def _roll_back(self, tp: TopicPartition, record: InputRecord) -> None:
        """The state the record may have changed back to what it was, and the record skipped."""
        if self.stateful:
            scoped = self._scoped
            scope = scoped.record_scope(record) if scoped is not None else None
            if scoped is None or scope is None:
                self.restore_shadow(tp)
            else:
                part = self.shadow[tp].get(scope, {})
                scoped.rebuild(self.engines[tp], scope, list(part.items()))
        engine = self.engines[tp]
        engine.skip(record.offset)
        if self.stateful:
            self._stage_position(tp, engine.position)

    def restore_shadow(self, tp: TopicPartition) -> E:
        """The engine rebuilt from the partition's state as entries (keeping what is staged)."""
        assert self._stateful is not None
        engine = self._stateful.restore(list(self.entries(tp).items()))
        self.engines[tp] = engine
        self.observer.restored(engine)
        return engine

    # -- state ------------------------------------------------------------------------------

    def stage(self, tp: TopicPartition, changes: list[StateChange]) -> None:
        """One record's state changes: all of one scope (a record touches the dataset or model
        it is keyed by), staged for the changelog and kept in the shadow."""
        shadow = self.shadow[tp]
        scoped = self._scoped
        name = WHOLE
        if scoped is not None:
            name = scoped.scope(changes[0].key)
        part = shadow.get(name)
        if part is None:
            part = shadow[name] = {}
        if not self.keep_changelog:
            for change in changes:
                if type(change) is StatePut:
                    part[change.key] = change.value
                else:
                    part.pop(change.key, None)
            return
        dirty = self.dirty[tp]
        puts, deletes = dirty.puts, dirty.deletes
        dumps = orjson.dumps
        # `size` is what the checkpoint would write: a key put again replaces its value (a
        # window rewritten at every arrival counts once, not once per arrival)
        for change in changes:
            key = change.key
            if type(change) is StatePut:
                value = change.value
                part[key] = value
                data = dumps(value)
                before = puts.get(key)
                puts[key] = data
                if before is None:
                    dirty.size += len(data) + len(key)
                else:
                    dirty.size += len(data) - len(before)
                if deletes:
                    deletes.discard(key)
            else:
                part.pop(key, None)
                before = puts.pop(key, None)
                if before is not None:
                    dirty.size -= len(before) + len(key)
                deletes.add(key)

    def _stage_position(self, tp: TopicPartition, position: int) -> None:
        self.shadow[tp].setdefault(WHOLE, {})[POSITION_KEY] = position
        if self.keep_changelog:
            self.dirty[tp].puts[POSITION_KEY] = b"%d" % position

    def snapshot(
        self, tp: TopicPartition, last_timestamp_ms: int, taken_at: datetime, part_bytes: int
    ) -> list[Output]:
        """The partition's whole state as `StateSnapshot` records (see `snapshot_records`)."""
        entries = self.entries(tp)
        position = self.engines[tp].position
        return snapshot_records(tp, entries, position, last_timestamp_ms, taken_at, part_bytes)

    def dirty_size(self) -> int:
        return sum(d.size for d in self.dirty.values())

    def take_checkpoint(self, tps: Iterable[TopicPartition] | None = None) -> list[Checkpoint]:
        """What changed since the last checkpoint, per partition, and start afresh."""
        out: list[Checkpoint] = []
        for tp in sorted(self.engines if tps is None else tps):
            engine = self.engines.get(tp)
            if engine is None:
                continue
            if not self.stateful:
                if self._taken.get(tp) != engine.position:
                    self._taken[tp] = engine.position
                    out.append(Checkpoint(tp, [], [], engine.position))
                continue
            dirty = self.dirty.get(tp)
            if dirty is None or (not dirty.puts and not dirty.deletes):
                continue
            self.dirty[tp] = Dirty()
            position = dirty.puts.pop(POSITION_KEY, None)
            puts = [(k.encode(), v) for k, v in dirty.puts.items()]
            if position is not None:  # last: the position is only ever read with its state
                puts.append((POSITION_KEY.encode(), position))
            out.append(
                Checkpoint(tp, puts, [k.encode() for k in sorted(dirty.deletes)], engine.position)
            )
        return out


def _too_large(outputs: Sequence[Output], limits: Mapping[Role, int]) -> str | None:
    """Why one of `outputs` would not fit its topic (None: they all fit)."""
    for o in outputs:
        limit = limits.get(o.role)
        size = len(o.value or b"") + len(o.key or b"") + RECORD_FRAMING_BYTES
        if limit is not None and size > limit:
            return (
                f"its {o.role} record would be {size} bytes with framing; the topic takes at "
                f"most {limit} (max.message.bytes): refused instead of sent"
            )
    return None
