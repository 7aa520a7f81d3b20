"""Effects to records: one renderer per effect type, in one table, for every logic.

The core returns effects as values; this is the one place they become output records (the
bytes through `contracts`: `encode`, `wire_json`, `decision_wire`, the models.log and dlq
forms). An effect that writes no record (a watermark advanced, a window dropped) has no
renderer; one that says what became of the input record has a fate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.contracts.codec import encode
from orchestrator.contracts.modellog import notice_record
from orchestrator.contracts.records import ChampionRecord, LateRecord, SourceOffset
from orchestrator.contracts.wire import decision_wire, wire_json
from orchestrator.core.effects import (
    Accepted,
    ChampionChanged,
    Decided,
    Duplicate,
    Effect,
    Notified,
    Rejected,
    StateDelete,
    StatePut,
    TooLate,
    TrainingRequest,
    WindowFired,
)
from orchestrator.core.timeutil import from_ms
from orchestrator.errors import ContractError
from orchestrator.pipeline.records import Applied, InputRecord, Output, dlq_output


@dataclass(slots=True)
class Scene:
    """What the effects of one input record are rendered against."""

    record: InputRecord
    now: datetime
    dlq_limit: int
    #: the input's topic, when the data → model notices name the input's position (the
    #: position is made only for a notice: most records have none)
    topic: str | None = None
    #: models.log: the bytes of the event as the router received them, for its dlq envelope
    #: (called only when an effect sends the record to the dlq)
    original: Callable[[], bytes | None] | None = None
    #: models.log: where the event was first read (its dlq envelope names that position)
    original_source: SourceOffset | None = None


def _window(e: WindowFired, s: Scene) -> Output:
    return Output("windows", e.manifest.dataset.encode(), wire_json(e.wire))


def _decision(e: Decided, s: Scene) -> Output:
    d = e.decision
    return Output("audit", d.subject.id.encode(), decision_wire(d))


def _notice(e: Notified, s: Scene) -> Output:
    assert s.topic is not None, "a notice names the input it came from"
    source = SourceOffset(topic=s.topic, partition=s.record.partition, offset=s.record.offset)
    value = notice_record(e.window_id, e.outcome, e.decision_id, source, e.drift)
    return Output("model_log", e.model.encode(), value)


def _late(e: TooLate, s: Scene) -> Output:
    late = LateRecord(
        code=e.code,
        window_id=e.window_id,
        watermark=from_ms(e.watermark_ms),
        event=e.event,
        partition=e.partition,
        offset=e.offset,
    )
    return Output("late", e.event.dataset.encode(), encode(late))


def _rejected(e: Rejected, s: Scene) -> Output:
    value = s.original() if s.original is not None else None
    return dlq_output(
        s.record,
        e.code,
        e.message,
        e.event_id,
        s.now,
        s.dlq_limit,
        value=value,
        source=s.original_source,
    )


def _champion(e: ChampionChanged, s: Scene) -> Output:
    champion = ChampionRecord(
        model=e.model,
        version=e.version,
        decision_id=e.decision_id,
        since=s.now,
        challenger=e.challenger,
    )
    return Output("champions", e.model.encode(), encode(champion))


def _training(e: TrainingRequest, s: Scene) -> Output:
    return Output("training", e.request.model.encode(), encode(e.request))


#: effect type -> its output record (effects missing here write none)
RENDERERS: dict[type[Any], Callable[[Any, Scene], Output]] = {
    WindowFired: _window,
    Decided: _decision,
    Notified: _notice,
    TooLate: _late,
    Rejected: _rejected,
    ChampionChanged: _champion,
    TrainingRequest: _training,
}

#: effect type -> what it makes of the input record (otherwise the record was "applied")
FATES: dict[type[Any], str] = {
    Accepted: "accepted",
    Duplicate: "duplicate",
    TooLate: "late",
    Rejected: "dlq",
}


#: effect type -> (its output record's renderer, the input record's fate): one lookup per effect
_HOW: dict[type[Any], tuple[Callable[[Any, Scene], Output] | None, str | None]] = {
    kind: (RENDERERS.get(kind), FATES.get(kind)) for kind in {*RENDERERS, *FATES}
}


def render(event_type: str, effects: list[Effect], scene: Scene, item: object = None) -> Applied:
    """The input record's outputs (in effect order), state changes and fate."""
    out = Applied(event_type, "applied", effects=effects, item=item)
    outputs, state = out.outputs, out.state
    how = _HOW.get
    for effect in effects:
        kind = type(effect)
        if kind is StatePut or kind is StateDelete:
            state.append(effect)  # type: ignore[arg-type]
            continue
        found = how(kind)
        if found is None:
            continue
        renderer, fate = found
        if renderer is not None:
            outputs.append(renderer(effect, scene))
        if fate is not None:
            out.fate = fate
            if kind is Rejected:
                out.code = effect.code  # type: ignore[union-attr]
    return out


def refused(
    record: InputRecord,
    code: str,
    message: str,
    event_id: str | None,
    now: datetime,
    dlq_limit: int,
    event_type: str = "invalid",
) -> Applied:
    """A record the logic refused before the core saw it: to the dlq with `code`."""
    out = dlq_output(record, code, message, event_id, now, dlq_limit)
    return Applied(event_type, "dlq", [out], code=code, event_id=event_id)


def invalid(
    record: InputRecord, exc: ContractError, now: datetime, dlq_limit: int, *, named: bool = True
) -> Applied:
    """A record that breaks its contract: to the dlq with the contract's code (`named`: with
    the event id the contract could read, for the envelope and the log line)."""
    event_id = exc.event_id if named else None
    return refused(record, exc.code, exc.message, event_id, now, dlq_limit)
