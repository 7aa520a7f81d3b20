"""Decoding, pinned at its edges: how many errors a message names, how long a named field or
key may be, the 64-bit bounds of free-form integers, and UTC whatever the host's zone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest

from orchestrator.contracts import DataArrival, decode, encode
from orchestrator.contracts.modellog import parse_entry
from orchestrator.errors import ContractError
from tests import factories

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def failure(value: bytes, key: bytes | None = None, role: str | None = None) -> ContractError:
    with pytest.raises(ContractError) as caught:
        decode(value, key, topic_role=role)
    return caught.value


def arrival(**changes: Any) -> bytes:
    return orjson.dumps({**factories.arrival("a1"), **changes})


@pytest.mark.parametrize(("extras", "suffix"), [(10, None), (11, "and 1 more errors")])
def test_ten_errors_are_all_named_an_eleventh_is_counted(extras: int, suffix: str | None) -> None:
    """Exactly ten errors are named without a tail; past ten, the rest are only counted."""
    e = failure(arrival(**{f"x{i:02d}": 1 for i in range(extras)}))
    parts = e.message.split("; ")
    assert e.code == "E_SCHEMA"
    assert parts[:10] == [f"field 'x{i:02d}': Extra inputs are not permitted" for i in range(10)]
    assert parts[10:] == ([suffix] if suffix else [])


def test_a_long_field_name_is_cut_to_200_characters() -> None:
    """A field path longer than 200 characters is named by its first 197 and '...'."""
    name = "k" * 250
    e = failure(arrival(**{name: 1}))
    assert e.message == f"field '{'k' * 197}...': Extra inputs are not permitted"


def test_an_extra_field_named_like_an_event_type_is_a_contract_error() -> None:
    """Whatever an unknown field is called, it is refused as E_SCHEMA, never a crash."""
    e = failure(arrival(**{"data.watermark": 1}))
    assert e.code == "E_SCHEMA" and e.event_id == "a1"
    assert e.message.endswith("Extra inputs are not permitted")


@pytest.mark.parametrize("value", [b"[]", b"5", b'"entry"'])
def test_a_models_log_record_that_is_not_an_object_is_named_as_the_whole_record(
    value: bytes,
) -> None:
    """An error with no field path is reported against '(event)'."""
    with pytest.raises(ContractError) as caught:
        parse_entry(value)
    assert caught.value.code == "E_SCHEMA"
    assert caught.value.message.startswith("not a models.log record: field '(event)': ")


def test_a_mismatched_key_is_shown_by_its_first_200_bytes() -> None:
    """A long wrong key is quoted only up to 200 bytes."""
    e = failure(arrival(), key=b"k" * 300, role="arrivals")
    assert (e.code, e.message) == (
        "E_KEY_MISMATCH",
        f"record key {'k' * 200!r} must equal field 'dataset' ('clicks') for data.arrival",
    )


@pytest.mark.parametrize("n", [INT64_MAX, INT64_MIN, 0])
def test_free_form_integers_at_the_64_bit_bounds_are_kept_exactly(n: int) -> None:
    """An attribute integer at either signed 64-bit bound is read as that integer."""
    event = decode(arrival(attributes={"n": n}))
    assert isinstance(event, DataArrival) and event.attributes is not None
    assert event.attributes == {"n": n} and type(event.attributes["n"]) is int


def test_a_free_form_integer_past_64_bits_is_refused_naming_its_key() -> None:
    """One past the signed 64-bit maximum is E_SCHEMA, and the message names the attribute."""
    e = failure(arrival(attributes={"n": INT64_MAX + 1}))
    assert (e.code, e.message) == (
        "E_SCHEMA",
        "field 'attributes': Value error, 'n': integer outside signed 64-bit",
    )


@pytest.mark.usefixtures("host_zone_not_utc")
def test_event_times_are_utc_whatever_the_hosts_zone() -> None:
    """An offset on the wire becomes UTC inside and Z on the way out, on a host in UTC+9."""
    event = decode(
        arrival(event_time="2026-11-23T11:00:00+01:00", produced_at="2026-11-23T12:00:00+02:00")
    )
    assert event.event_time.utcoffset() == timedelta(0)  # type: ignore[union-attr]
    out = orjson.loads(encode(event))
    assert (out["event_time"], out["produced_at"]) == (
        "2026-11-23T10:00:00Z",
        "2026-11-23T10:00:00Z",
    )


def test_a_union_tag_is_not_shown_as_a_field_and_an_extra_field_keeps_its_name() -> None:
    """The event type a discriminated union adds to an error's path (a models.log entry's
    `event`) is left out; an extra top-level field named like an event type is still named."""
    entry = {
        "kind": "event",
        "event": {**factories.model_update("m1"), "metrics": "high"},
        "source": {"topic": "models.updates", "partition": 0, "offset": 0},
    }
    with pytest.raises(ContractError) as nested:
        parse_entry(orjson.dumps(entry))
    assert "event.metrics'" in nested.value.message, nested.value.message
    assert "model.update" not in nested.value.message
    event = {**factories.arrival("e1"), "data.watermark": 1}
    with pytest.raises(ContractError) as extra:
        decode(orjson.dumps(event), b"clicks")
    assert "field 'data.watermark': Extra inputs are not permitted" in extra.value.message
