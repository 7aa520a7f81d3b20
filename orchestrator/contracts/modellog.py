"""The records of `models.log` (SPEC §6): what the model gate reads, in the order it must read
it. Two kinds: an input event the router forwarded (with where it was read), and a data-gate
decision of a window the model's datasets produced (with the arrival that triggered it)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from orchestrator.contracts.codec import describe_validation_error, to_jsonable
from orchestrator.contracts.events import (
    CommandOverride,
    CommandRollback,
    ModelPerformance,
    ModelUpdate,
)
from orchestrator.contracts.records import Check, Outcome, SourceOffset
from orchestrator.errors import E_SCHEMA, ContractError

_FROZEN = ConfigDict(frozen=True, extra="forbid")

#: what the router forwards into models.log
RoutedEvent = ModelUpdate | CommandRollback | CommandOverride | ModelPerformance
ModelEvent = Annotated[RoutedEvent, Field(discriminator="type")]


class LoggedEvent(BaseModel):
    """A `model.update`, `model.performance` or command the router forwarded, and where it read it."""

    model_config = _FROZEN
    kind: Literal["event"] = "event"
    event: ModelEvent
    source: SourceOffset
    #: the broker timestamp (ms) of the record it was read from (commands are judged by it)
    timestamp: int | None = None


class DataNotice(BaseModel):
    """The latest data-gate decision of a window, for a model whose policy lists its dataset."""

    model_config = _FROZEN
    kind: Literal["data"] = "data"
    window_id: str
    outcome: Outcome
    decision_id: str
    source: SourceOffset
    #: the decision's drift checks that failed (README "Drift"): what `retrain_on.drift` reads
    drift: list[Check] | None = None


#: what a model gate handles: a forwarded event, or a data notice
ModelInput = RoutedEvent | DataNotice

ModelLogEntry = Annotated[LoggedEvent | DataNotice, Field(discriminator="kind")]
_ENTRY: TypeAdapter[LoggedEvent | DataNotice] = TypeAdapter(ModelLogEntry)


def model_of(event: RoutedEvent) -> str:
    """The model whose log an input belongs to (an override names `model:version`)."""
    if isinstance(event, CommandOverride):
        return event.subject.partition(":")[0]
    return event.model


#: what precedes the event in an event entry: the event is written last, as received
_EVENT_FIELD = b',"event":'


def event_record(
    event: RoutedEvent | bytes,
    source: SourceOffset,
    timestamp: int | None = None,
) -> bytes:
    """A `models.log` entry for an input the router forwards: `event` is the record's value as
    received (bytes that decoded into a contract), written last and unchanged, so that a
    refusal at the model gate can hand the dlq the bytes received (`received_bytes`); a
    contract model is written in its wire form."""
    raw = event if isinstance(event, bytes) else orjson.dumps(to_jsonable(event))
    head = b'{"kind":"event","source":' + orjson.dumps(source.model_dump())
    if timestamp is not None:
        head += b',"timestamp":%d' % timestamp
    return head + _EVENT_FIELD + raw + b"}"


def received_bytes(entry: bytes) -> bytes | None:
    """The event of an event entry exactly as the router received it (None: not one)."""
    at = entry.find(_EVENT_FIELD)
    if not entry.startswith(b'{"kind":"event","source":') or at < 0 or not entry.endswith(b"}"):
        return None
    return entry[at + len(_EVENT_FIELD) : -1]


def notice_record(
    window_id: str,
    outcome: str,
    decision_id: str,
    source: SourceOffset,
    drift: list[Check] | None = None,
) -> bytes:
    notice: dict[str, Any] = {
        "kind": "data",
        "window_id": window_id,
        "outcome": outcome,
        "decision_id": decision_id,
        "source": source.model_dump(),
    }
    if drift:
        notice["drift"] = [c.model_dump(mode="json") for c in drift]
    return orjson.dumps(notice)


def parse_entry(value: bytes | None) -> LoggedEvent | DataNotice:
    """Inverse of event_record/notice_record; anything else is a ContractError (E_SCHEMA)."""
    try:
        obj: Any = orjson.loads(value or b"")
    except orjson.JSONDecodeError as exc:
        raise ContractError(E_SCHEMA, f"not a models.log record: {exc}") from None
    try:
        return _ENTRY.validate_python(obj)
    except ValidationError as exc:
        raise ContractError(
            E_SCHEMA, f"not a models.log record: {describe_validation_error(exc)}"
        ) from None
