"""Bytes <-> contracts. Every failure is a `ContractError` with a stable code, never anything else."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from orchestrator import errors
from orchestrator.contracts.events import (
    EVENT_TYPES,
    KEY_FIELD,
    SUPPORTED_VERSIONS,
    TOPIC_ROLE_FOR_TYPE,
    InputEvent,
)
from orchestrator.contracts.roles import Role

MAX_PAYLOAD_BYTES = 1024 * 1024
#: validation errors named in one message (an event can have thousands)
MAX_REPORTED_ERRORS = 10

#: Each type's own validator: `type` is checked before validation, so a discriminated union on
#: `type` would only repeat that dispatch, at ~2 µs per event.
_VALIDATORS = {etype: model.__pydantic_validator__ for etype, model in EVENT_TYPES.items()}


def describe_validation_error(exc: ValidationError) -> str:
    """A short human sentence per error: `field 'a.b': reason`."""
    parts = []
    errors_ = exc.errors(include_url=False)
    for err in errors_[:MAX_REPORTED_ERRORS]:
        loc = [str(p) for p in err["loc"]]
        # A discriminated union (a models.log entry's `event`) puts the tag in the path; it is
        # not a field. The last element is always a field (an extra one may be named `x.y`).
        loc = [p for i, p in enumerate(loc) if i == len(loc) - 1 or p not in EVENT_TYPES]
        field = ".".join(loc) or "(event)"
        parts.append(f"field '{cut(field, 200)}': {err['msg']}")
    if len(errors_) > MAX_REPORTED_ERRORS:
        parts.append(f"and {len(errors_) - MAX_REPORTED_ERRORS} more errors")
    return "; ".join(parts)


def cut(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters (an error message never carries a whole input)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: Any, limit: int = 120) -> str:
    """`repr(value)`, cut to `limit` characters."""
    return cut(repr(value), limit)


def parse_obj(obj: Any) -> InputEvent:
    """Validate an already-decoded JSON value into its contract model."""
    if not isinstance(obj, dict):
        raise errors.ContractError(errors.E_SCHEMA, "an event must be a JSON object")
    raw_id = obj.get("event_id")
    # an id longer than the contract allows is not an id anyone can look up: keep its head
    event_id = raw_id[:200] if isinstance(raw_id, str) else None
    etype = obj.get("type")
    if not isinstance(etype, str) or etype not in EVENT_TYPES:
        known = ", ".join(f'"{t}"' for t in EVENT_TYPES)
        what = "missing; add" if "type" not in obj else f"unknown event type {shown(etype)}; use"
        raise errors.ContractError(
            errors.E_UNKNOWN_TYPE, f"field 'type': {what} \"type\": one of {known}", event_id
        )
    v = obj.get("v")
    supported = sorted(SUPPORTED_VERSIONS[etype])
    # a JSON number: 1 and 1.0 are the same integer (as JSON Schema says), true is not one
    if isinstance(v, bool) or not isinstance(v, int | float) or v not in supported:
        use = " or ".join(f'"v": {n}' for n in supported)
        what = (
            f"missing; add {use} (the schema version of {etype})"
            if "v" not in obj
            else f"schema version {shown(v)} of {etype} is not supported; use {use}"
        )
        raise errors.ContractError(errors.E_UNKNOWN_TYPE, f"field 'v': {what}", event_id)
    try:
        event: InputEvent = _VALIDATORS[etype].validate_python(obj)
    except ValidationError as exc:
        raise errors.ContractError(
            _code_of(exc), describe_validation_error(exc), event_id
        ) from None
    return event


def _code_of(exc: ValidationError) -> str:
    """E_PROFILE_LIMIT for a data profile beyond its bounds (columns, bins, quantiles), else
    E_SCHEMA."""
    for err in exc.errors(include_url=False):
        if err["type"] == "too_long" and "profile" in err["loc"][:2]:
            return errors.E_PROFILE_LIMIT
    return errors.E_SCHEMA


def decode(
    value: bytes | None, key: bytes | None = None, *, topic_role: Role | None = None
) -> InputEvent:
    """Decode one record; check size, JSON, type, version, fields, topic and key (SPEC §2).

    With `topic_role` the bytes are a Kafka record from that topic: its key must be present and
    equal the event's keyed field. Without it (a line to validate) a key, if given, must too."""
    if value is None:
        raise errors.ContractError(errors.E_DECODE, "record has no value (tombstone)")
    if len(value) > MAX_PAYLOAD_BYTES:
        raise errors.ContractError(
            errors.E_TOO_LARGE, f"payload is {len(value)} bytes; the limit is {MAX_PAYLOAD_BYTES}"
        )
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise errors.ContractError(errors.E_DECODE, f"not UTF-8 JSON: {exc}") from None
    event = parse_obj(obj)
    check_placement(event, key, topic_role)
    return event


def check_placement(event: InputEvent, key: bytes | None, topic_role: Role | None) -> None:
    """The event's type belongs on the topic of `topic_role`, and the record's key equals its
    keyed field (SPEC §2); with no role, a key that is given must equal it too."""
    if topic_role is not None and TOPIC_ROLE_FOR_TYPE[event.type] != topic_role:
        raise errors.ContractError(
            errors.E_UNKNOWN_TYPE,
            f"field 'type': {event.type} does not belong on the {topic_role} topic",
            event.event_id,
        )
    if topic_role is not None or key is not None:
        field = KEY_FIELD[event.type]
        expected = getattr(event, field)
        if key is None:
            raise errors.ContractError(
                errors.E_KEY_MISMATCH,
                f"record has no key; a {event.type} must be keyed by field '{field}' "
                f"({expected!r}) so that all of its events share one partition",
                event.event_id,
            )
        if key != expected.encode():
            shown = key[:200].decode("utf-8", "backslashreplace")
            raise errors.ContractError(
                errors.E_KEY_MISMATCH,
                f"record key {shown!r} must equal field '{field}' ({expected!r}) for {event.type}",
                event.event_id,
            )


def to_jsonable(model: BaseModel) -> dict[str, Any]:
    """The model as plain JSON types, optional fields that are unset left out."""
    out: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    return out


def encode(model: BaseModel) -> bytes:
    """The wire form: compact orjson of the model, None fields left out."""
    return orjson.dumps(to_jsonable(model))


def b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")
