"""The records of `models.log`: what the model gate reads, in the order it must read it."""

from __future__ import annotations

from typing import Any

import orjson

from orchestrator.contracts.codec import parse_obj, to_jsonable
from orchestrator.contracts.events import CommandOverride, CommandRollback, ModelUpdate
from orchestrator.contracts.records import SourceOffset
from orchestrator.core.modelgate import DataNotice, ModelInput
from orchestrator.errors import E_SCHEMA, ContractError


def model_of(event: ModelUpdate | CommandRollback | CommandOverride) -> str:
    """The model whose log an input belongs to (an override names `model:version`)."""
    if isinstance(event, CommandOverride):
        return event.subject.partition(":")[0]
    return event.model


def event_record(
    event: ModelUpdate | CommandRollback | CommandOverride, source: SourceOffset
) -> bytes:
    return orjson.dumps(
        {"kind": "event", "event": to_jsonable(event), "source": source.model_dump()}
    )


def notice_record(notice: DataNotice, source: SourceOffset) -> bytes:
    return orjson.dumps(
        {
            "kind": "data",
            "window_id": notice.window_id,
            "outcome": notice.outcome,
            "decision_id": notice.decision_id,
            "source": source.model_dump(),
        }
    )


def parse_record(value: bytes | None) -> tuple[ModelInput, SourceOffset]:
    """Inverse of event_record/notice_record; anything else is a ContractError."""
    try:
        obj: Any = orjson.loads(value or b"")
        source = SourceOffset.model_validate(obj["source"])
        if obj["kind"] == "data":
            return DataNotice(obj["window_id"], obj["outcome"], obj["decision_id"]), source
        event = parse_obj(obj["event"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ContractError(E_SCHEMA, f"not a models.log record: {exc}") from None
    if not isinstance(event, ModelUpdate | CommandRollback | CommandOverride):
        raise ContractError(E_SCHEMA, f"{event.type} does not belong on models.log")
    return event, source
