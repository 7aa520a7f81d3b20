"""Input event contracts (SPEC §2): one frozen pydantic model per `type`, no subclassing."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from orchestrator.contracts.roles import Role

EventId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


def _json_integer(value: object) -> object:
    """A JSON integer, as JSON Schema's `integer` means it: a number without a fractional part
    (10 or 10.0), never a string ("10") or a boolean (pydantic's lax mode takes both)."""
    if isinstance(value, bool | str | bytes):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


#: Every integer on the wire is signed 64-bit (SPEC §2): what orjson and every consumer can hold.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX), BeforeValidator(_json_integer)]
Count = Annotated[int, Field(ge=0, le=INT64_MAX), BeforeValidator(_json_integer)]
#: a JSON number (an integer is one too), never a string or a boolean
Float = Annotated[float, Strict(), Field(allow_inf_nan=False)]
#: a metric: a JSON number within +-2^53, where every JSON reader holds each integer exactly
#: (a figure beyond it, such as 2^64, is refused rather than rounded)
METRIC_BOUND = 2**53
Metric = Annotated[float, Strict(), Field(allow_inf_nan=False, ge=-METRIC_BOUND, le=METRIC_BOUND)]
AttrValue = str | Int64 | Float | bool | None
#: a command's one-time value: random, at least 16 characters
Nonce = Annotated[str, StringConstraints(min_length=16, max_length=200)]


def _int64_values(value: object) -> object:
    """In free-form values an integer stays an integer: beyond 64 bits it is an error, not a
    float (which is what the union would quietly make of it)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if type(v) is int and not INT64_MIN <= v <= INT64_MAX:
                raise ValueError(f"{k!r}: integer outside signed 64-bit")
    return value


Attributes = Annotated[dict[str, AttrValue], BeforeValidator(_int64_values)]


#: RFC 3339 date-time with an offset (SPEC §2), as the exported JSON Schema states it: what the
#: contracts accept on the wire is exactly what this pattern matches (and the calendar allows:
#: a pattern cannot know that February 29 of 2027 does not exist).
RFC3339 = (
    r"^(?!0000)[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-9]))"
    r"[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
_RFC3339 = re.compile(RFC3339)


def _rfc3339(value: object) -> object:
    """On the wire a time is an RFC 3339 string with an offset; pydantic alone would also take
    a Unix timestamp or a space for the `T`. Python callers may pass a datetime."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise PydanticCustomError(
            "datetime_format",
            "Input should be an RFC 3339 date-time with an offset, e.g. 2026-11-23T10:00:00Z",
        )
    return value


def _as_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00:00-05:00 is in year 10000 in UTC
        raise PydanticCustomError(
            "datetime_range", "Input should be a time whose UTC value is in years 1 to 9999"
        ) from None


#: RFC 3339 with an offset on the wire, handled as UTC inside (SPEC §2).
UtcDatetime = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    AfterValidator(_as_utc),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339}),
]


def _signed_time(value: object) -> object:
    """A signed time is kept as the text that was sent, so that what a signer signed is what
    the worker verifies (README, "The signed form"). It must be an RFC 3339 time with an
    offset, whose UTC value is in years 1 to 9999. Python callers may pass an aware datetime:
    it is written in UTC with `Z`, microseconds only when not 0."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise PydanticCustomError("timezone_aware", "Input should have timezone info")
        text = _as_utc(value).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if not isinstance(value, str) or not _RFC3339.match(value):
        return _rfc3339(value)  # raises: not a time in the accepted form
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise PydanticCustomError(
            "datetime_from_date_parsing", "Input should be a valid date and time"
        ) from None
    _as_utc(parsed)  # raises outside years 1 to 9999 in UTC
    return value


#: An RFC 3339 time kept as sent (a command's `issued_at`: it is signed as text). Any offset,
#: `T` or `t`, `Z` or `z`, any number of fraction digits; compared as UTC milliseconds.
SignedTime = Annotated[
    str,
    BeforeValidator(_signed_time),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339}),
]


def signed_time_ms(text: str) -> int:
    """A SignedTime as UTC epoch milliseconds (the fraction beyond milliseconds dropped)."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    delta = dt.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


_FROZEN = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)


#: A data profile's bounds (README "Drift"): columns per arrival, and bins or quantiles per
#: column; beyond them an arrival is refused with E_PROFILE_LIMIT.
MAX_PROFILE_COLUMNS = 64
MAX_PROFILE_POINTS = 64


BinCount = Annotated[int, Strict(), Field(ge=0, le=INT64_MAX)]


class ColumnProfile(BaseModel):
    """One column of an arrival's data profile: `count` non-null values and `nulls`; when
    `count` > 0 their mean, population standard deviation, min and max, and the `bins` (counts
    over the dataset policy's bin edges: below the first, each [edge, next), from the last up)
    or `quantiles` (values at the policy's probabilities) that the policy declares."""

    model_config = _FROZEN
    count: Count
    nulls: Count = 0
    mean: Float | None = None
    std: Annotated[Float, Field(ge=0)] | None = None
    min: Float | None = None
    max: Float | None = None
    #: strict integers (validated in pydantic's core: a profile holds many)
    bins: Annotated[list[BinCount], Field(max_length=MAX_PROFILE_POINTS + 1)] | None = None
    quantiles: Annotated[list[Float], Field(max_length=MAX_PROFILE_POINTS)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ColumnProfile:
        moments = (self.mean, self.std, self.min, self.max)
        if self.count == 0:
            if any(m is not None for m in moments) or self.quantiles:
                raise ValueError("a column of count 0 has no mean, std, min, max or quantiles")
            if self.bins and any(self.bins):
                raise ValueError("a column of count 0 has empty bins")
            return self
        if self.mean is None or self.std is None or self.min is None or self.max is None:
            raise ValueError("a column of count > 0 needs mean, std, min and max")
        if self.min > self.max:
            raise ValueError("min is above max")
        if self.bins is not None and sum(self.bins) != self.count:
            raise ValueError(f"the bins hold {sum(self.bins)} values, count is {self.count}")
        q = self.quantiles
        if q is not None and (q != sorted(q) or (q and (q[0] < self.min or q[-1] > self.max))):
            raise ValueError("quantiles must be non-decreasing, between min and max")
        return self


ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Profile = Annotated[
    dict[ColumnName, ColumnProfile], Field(min_length=1, max_length=MAX_PROFILE_COLUMNS)
]


class DataArrival(BaseModel):
    """A batch of data landed for a dataset (key: dataset)."""

    model_config = _FROZEN
    type: Literal["data.arrival"] = "data.arrival"
    v: Literal[1] = 1
    event_id: EventId
    dataset: Name
    source: Name
    event_time: UtcDatetime
    uri: Text
    record_count: Count
    checksum: Text
    schema_fingerprint: Text | None = None
    produced_at: UtcDatetime | None = None
    attributes: Attributes | None = None
    #: what the data looks like, per column (README "Drift"); only the columns the dataset
    #: policy declares are kept
    profile: Profile | None = None


class DataWatermark(BaseModel):
    """A source asserts that nothing older than `watermark` follows (key: dataset).

    The source `orchestrator` is reserved for the worker's idle-source watermarks, which it
    signs (HMAC-SHA256 with the worker key, like a command); any other is refused."""

    model_config = _FROZEN
    type: Literal["data.watermark"] = "data.watermark"
    v: Literal[1] = 1
    event_id: EventId
    dataset: Name
    source: Name
    watermark: UtcDatetime
    signature: Text | None = None


class ModelUpdate(BaseModel):
    """A model version was trained (key: model)."""

    model_config = _FROZEN
    type: Literal["model.update"] = "model.update"
    v: Literal[1] = 1
    event_id: EventId
    model: Name
    version: Name
    artifact_uri: Text
    artifact_digest: Text
    metrics: dict[Name, Metric]
    trained_on: list[Name]
    params: Attributes | None = None
    code_version: Text | None = None
    event_time: UtcDatetime | None = None


class CommandRollback(BaseModel):
    """An operator asks to restore the previous champion, or `to_version` (key: model).
    `issued_at` and `nonce` are signed with the rest: a command is good once, and only for the
    access policy's max_command_age."""

    model_config = _FROZEN
    type: Literal["command.rollback"] = "command.rollback"
    v: Literal[1] = 1
    event_id: EventId
    model: Name
    actor: Name
    reason: Text
    issued_at: SignedTime
    nonce: Nonce
    signature: Text
    to_version: Name | None = None


class CommandOverride(BaseModel):
    """An operator forces an outcome on a subject with a justification (key: subject id);
    signed, once, within max_command_age, like a rollback."""

    model_config = _FROZEN
    type: Literal["command.override"] = "command.override"
    v: Literal[1] = 1
    event_id: EventId
    subject: Name
    outcome: Literal["promote", "reject"]
    actor: Name
    reason: Text
    issued_at: SignedTime
    nonce: Nonce
    signature: Text


class ModelPerformance(BaseModel):
    """Live metrics of one deployed version over an event-time interval, as a monitoring job or
    the serving layer measured them on `sample_count` predictions (key: model)."""

    model_config = _FROZEN
    type: Literal["model.performance"] = "model.performance"
    v: Literal[1] = 1
    event_id: EventId
    model: Name
    version: Name
    interval_start: UtcDatetime
    interval_end: UtcDatetime
    metrics: dict[Name, Metric]
    sample_count: Count
    source: Name | None = None

    @model_validator(mode="after")
    def _interval(self) -> ModelPerformance:
        # a JSON Schema cannot compare two fields: a known gap of the exported schema
        if self.interval_end < self.interval_start:
            raise PydanticCustomError(
                "interval_order", "interval_end must not be before interval_start"
            )
        return self


InputEvent = (
    DataArrival | DataWatermark | ModelUpdate | CommandRollback | CommandOverride | ModelPerformance
)

EVENT_TYPES: dict[str, type[BaseModel]] = {
    "data.arrival": DataArrival,
    "data.watermark": DataWatermark,
    "model.update": ModelUpdate,
    "command.rollback": CommandRollback,
    "command.override": CommandOverride,
    "model.performance": ModelPerformance,
}

#: Schema versions each type accepts; anything else is E_UNKNOWN_TYPE.
SUPPORTED_VERSIONS: dict[str, frozenset[int]] = {t: frozenset({1}) for t in EVENT_TYPES}

#: The field whose value must equal the Kafka record key.
KEY_FIELD: dict[str, str] = {
    "data.arrival": "dataset",
    "data.watermark": "dataset",
    "model.update": "model",
    "command.rollback": "model",
    "command.override": "subject",
    "model.performance": "model",
}

#: Which topic (by catalog role) carries which types.
TOPIC_ROLE_FOR_TYPE: dict[str, Role] = {
    "data.arrival": "arrivals",
    "data.watermark": "arrivals",
    "model.update": "model_updates",
    "command.rollback": "commands",
    "command.override": "commands",
    "model.performance": "model_updates",
}


def key_of(event: InputEvent) -> str:
    """The Kafka key a producer must use for this event (SPEC §2 table)."""
    value: str = getattr(event, KEY_FIELD[event.type])
    return value
