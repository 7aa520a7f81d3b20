"""A compiled decoder for the arrivals topic's common case, with the pydantic contracts as judge.

`decode_arrival(value, key)` is `codec.decode(value, key, topic_role="arrivals")`, faster. msgspec
decodes the record straight into a Struct that states the contract's bounds (lengths, the signed
64-bit range, no unknown fields); what it accepts becomes the very pydantic model the contract
would have built (its fields in declaration order, times as UTC datetimes, the same fields-set),
without running pydantic's validators again. Everything else goes to `codec.decode`: a record
msgspec refuses, a time outside the narrow form this module parses itself, a data profile (nested
models with cross-field rules), an attribute integer beyond 64 bits. So a refusal always comes
from the contract, with its code and message, and the fast path only ever says yes to what the
contract says yes to, with the same model: `tests/unit/test_fast_decode.py` checks both on
generated and mutated records (a differential test against `codec.decode`).

The pydantic models stay the source of truth: the exported JSON Schema, every error message,
every other topic and every other caller (`parse_obj`, the CLI, the client) use them alone.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

from orchestrator.contracts.codec import MAX_PAYLOAD_BYTES, check_placement, decode
from orchestrator.contracts.events import (
    INT64_MAX,
    INT64_MIN,
    RFC3339,
    DataArrival,
    DataWatermark,
)
from orchestrator.contracts.trusted import trusted

_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
_Text = Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
_Count = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
_UNSET: Any = msgspec.UNSET


class _Arrival(msgspec.Struct, forbid_unknown_fields=True, tag_field="type", tag="data.arrival"):
    v: Literal[1]
    event_id: _Id
    dataset: _Id
    source: _Id
    event_time: str
    uri: _Text
    record_count: _Count
    checksum: _Text
    schema_fingerprint: _Text | msgspec.UnsetType | None = _UNSET
    produced_at: str | msgspec.UnsetType | None = _UNSET
    attributes: dict[str, str | int | float | bool | None] | msgspec.UnsetType | None = _UNSET
    #: kept as raw bytes, not parsed (a profile of any depth costs no recursion here): an
    #: arrival with a profile goes to the contract
    profile: msgspec.Raw | msgspec.UnsetType = _UNSET


class _Watermark(
    msgspec.Struct, forbid_unknown_fields=True, tag_field="type", tag="data.watermark"
):
    v: Literal[1]
    event_id: _Id
    dataset: _Id
    source: _Id
    watermark: str
    signature: _Text | msgspec.UnsetType | None = _UNSET


_DECODER = msgspec.json.Decoder(_Arrival | _Watermark)

#: the one time form parsed here: the contract's RFC 3339 pattern in its common spelling (an
#: upper-case `T` and `Z`, a fraction of at most six digits), which `datetime.fromisoformat`
#: reads as the contract does; any other spelling the contract accepts goes to the contract
_COMMON = RFC3339.replace("[Tt]", "T").replace("[Zz]", "Z").replace(r"\.[0-9]+", r"\.[0-9]{1,6}")
_TIME = re.compile(_COMMON)


class _Refer(Exception):
    """Not this module's case: the contract decides."""


def _time(text: str) -> datetime:
    """An RFC 3339 time in the common form, as the contract's UtcDatetime makes it (aware,
    converted to UTC)."""
    if _TIME.fullmatch(text) is None:
        raise _Refer
    try:
        parsed = datetime.fromisoformat(text)
        return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # February 30, or beyond year 9999 in UTC
        raise _Refer from None


#: the fields every arrival the fast path takes has set (`type` and `v` included: the contract
#: refuses an event without them before validating it)
_ARRIVAL_REQUIRED = frozenset(
    ("type", "v", "event_id", "dataset", "source", "event_time", "uri", "record_count", "checksum")
)


def _arrival(s: _Arrival) -> DataArrival:
    profile = s.profile
    if profile is not _UNSET and bytes(profile) != b"null":  # type: ignore[arg-type]
        raise _Refer
    attributes = s.attributes
    if attributes:
        for v in attributes.values():
            t = type(v)
            if t is int and not INT64_MIN <= v <= INT64_MAX:  # type: ignore[operator]
                raise _Refer
            # msgspec refuses a number beyond a double already (1e400): a guard, not a path
            if t is float and not math.isfinite(v):  # type: ignore[arg-type]
                raise _Refer
    fields_set = set(_ARRIVAL_REQUIRED)
    fingerprint = s.schema_fingerprint
    if fingerprint is _UNSET:
        fingerprint = None
    else:
        fields_set.add("schema_fingerprint")
    produced_at = s.produced_at
    produced: datetime | None = None
    if produced_at is not _UNSET:
        fields_set.add("produced_at")
        if produced_at is not None:
            produced = _time(produced_at)  # type: ignore[arg-type]
    if attributes is _UNSET:
        attributes = None
    else:
        fields_set.add("attributes")
    if profile is not _UNSET:
        fields_set.add("profile")
    fields = {
        "type": "data.arrival",
        "v": 1,
        "event_id": s.event_id,
        "dataset": s.dataset,
        "source": s.source,
        "event_time": _time(s.event_time),
        "uri": s.uri,
        "record_count": s.record_count,
        "checksum": s.checksum,
        "schema_fingerprint": fingerprint,
        "produced_at": produced,
        "attributes": attributes,
        "profile": None,
    }
    return trusted(DataArrival, fields, fields_set)  # type: ignore[no-any-return]


def _watermark(s: _Watermark) -> DataWatermark:
    fields_set = {"type", "v", "event_id", "dataset", "source", "watermark"}
    if s.signature is not _UNSET:
        fields_set.add("signature")
    fields = {
        "type": "data.watermark",
        "v": 1,
        "event_id": s.event_id,
        "dataset": s.dataset,
        "source": s.source,
        "watermark": _time(s.watermark),
        "signature": None if s.signature is _UNSET else s.signature,
    }
    return trusted(DataWatermark, fields, fields_set)  # type: ignore[no-any-return]


def decode_arrival(value: bytes | None, key: bytes | None) -> DataArrival | DataWatermark:
    """`codec.decode(value, key, topic_role="arrivals")`: the same event or the same
    ContractError (code and message), decoded by msgspec when it is the common case."""
    if value is None or len(value) > MAX_PAYLOAD_BYTES:
        return decode(value, key, topic_role="arrivals")  # type: ignore[return-value]
    try:
        s = _DECODER.decode(value)
        event = _arrival(s) if isinstance(s, _Arrival) else _watermark(s)
    # RecursionError: msgspec's own depth guard (none is expected: nothing here is parsed
    # into a nested value), deferred to the contract like any other refusal
    except (msgspec.DecodeError, _Refer, RecursionError):
        return decode(value, key, topic_role="arrivals")  # type: ignore[return-value]
    # both types belong on the arrivals topic, keyed by dataset: the contract's check (and
    # its message) only for a key that is not the dataset's
    if key is None or key != event.dataset.encode():
        check_placement(event, key, "arrivals")
    return event
