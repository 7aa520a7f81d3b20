"""Contracts, pinned: what a signed time (a command's `issued_at`) accepts and the exact error
of each refusal, its value in UTC milliseconds whatever the host's zone, the models.log error
for an empty record, and which entries `received_bytes` vouches for."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from orchestrator.contracts import CommandRollback, decode
from orchestrator.contracts.events import signed_time_ms
from orchestrator.contracts.modellog import event_record, parse_entry, received_bytes
from orchestrator.contracts.records import SourceOffset
from orchestrator.errors import ContractError
from tests import factories

T0_MS = 1_795_428_000_000  # 2026-11-23T10:00:00Z
FORMAT_MSG = "Input should be an RFC 3339 date-time with an offset, e.g. 2026-11-23T10:00:00Z"
RANGE_MSG = "Input should be a time whose UTC value is in years 1 to 9999"
SOURCE = SourceOffset(topic="models.in", partition=0, offset=7)


def rollback_with(issued_at: Any) -> bytes:
    return orjson.dumps({**factories.rollback(), "issued_at": issued_at})


def refusal(value: bytes) -> ContractError:
    with pytest.raises(ContractError) as caught:
        decode(value)
    return caught.value


def test_a_naive_datetime_is_refused_as_a_signed_time() -> None:
    """A Python caller's datetime without an offset is refused as `timezone_aware`, with
    pydantic's own sentence, on the field `issued_at`."""
    with pytest.raises(ValidationError) as caught:
        CommandRollback(**{**factories.rollback(), "issued_at": datetime(2026, 11, 23, 12)})
    (err,) = caught.value.errors(include_url=False)
    assert (err["type"], err["loc"], err["msg"]) == (
        "timezone_aware",
        ("issued_at",),
        "Input should have timezone info",
    )


@pytest.mark.parametrize(
    "issued_at",
    [
        "2026-11-23 12:00:00Z",  # a space for T: RFC 3339 allows it, the contract does not
        "2026-11-23T12:00:00",  # no offset
        "2026-11-23",  # a date alone
        1_795_428_000,  # a Unix timestamp
    ],
)
def test_a_signed_time_not_in_the_accepted_form_is_refused(issued_at: Any) -> None:
    """A signed time that is not an RFC 3339 string with `T` and an offset is E_SCHEMA naming
    the accepted form, and nothing else (never a crash)."""
    e = refusal(rollback_with(issued_at))
    assert (e.code, e.event_id) == ("E_SCHEMA", "c1")
    assert e.message == f"field 'issued_at': {FORMAT_MSG}"


def test_a_signed_time_on_a_day_the_calendar_lacks_is_refused() -> None:
    """2027-02-29 matches the pattern but does not exist: `datetime_from_date_parsing`, with
    the sentence 'Input should be a valid date and time'."""
    e = refusal(rollback_with("2027-02-29T12:00:00Z"))
    assert (e.code, e.message) == (
        "E_SCHEMA",
        "field 'issued_at': Input should be a valid date and time",
    )
    with pytest.raises(ValidationError) as caught:
        CommandRollback(**{**factories.rollback(), "issued_at": "2027-02-29T12:00:00Z"})
    assert [err["type"] for err in caught.value.errors()] == ["datetime_from_date_parsing"]


@pytest.mark.parametrize("issued_at", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"])
def test_a_signed_time_outside_years_1_to_9999_in_utc_is_refused(issued_at: str) -> None:
    """A well-formed time whose UTC value falls in year 10000 or year 0 is refused by range."""
    e = refusal(rollback_with(issued_at))
    assert (e.code, e.message) == ("E_SCHEMA", f"field 'issued_at': {RANGE_MSG}")


@pytest.mark.parametrize(
    "issued_at", ["9999-12-31T23:59:59.999Z", "9999-12-31T18:59:59-05:00", "0001-01-01T00:00:00Z"]
)
def test_a_signed_time_at_the_range_edges_is_kept_as_sent(issued_at: str) -> None:
    """The first and last instants of years 1 to 9999 in UTC are accepted, text unchanged."""
    cmd = decode(rollback_with(issued_at))
    assert isinstance(cmd, CommandRollback) and cmd.issued_at == issued_at


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-11-23T10:00:00Z", T0_MS),
        ("2026-11-23T10:00:00.999Z", T0_MS + 999),
        ("2026-11-23t10:00:00.1239z", T0_MS + 123),  # the fraction past ms is dropped
        ("2026-11-23T11:00:00.5+01:00", T0_MS + 500),
        ("1969-12-31T23:59:59.5Z", -500),
        ("1969-12-31T23:59:59.999Z", -1),
    ],
)
def test_signed_time_ms_reads_to_the_millisecond(text: str, ms: int) -> None:
    """A signed time in UTC epoch ms, fraction included (toward minus infinity past ms)."""
    assert signed_time_ms(text) == ms


@pytest.mark.usefixtures("host_zone_not_utc")
@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("9999-12-31T23:59:59.999Z", 253_402_300_799_999),
        ("0001-01-01T00:00:00Z", -62_135_596_800_000),
        ("2026-11-23T10:00:00.25Z", T0_MS + 250),
    ],
)
def test_signed_time_ms_is_independent_of_the_hosts_zone(text: str, ms: int) -> None:
    """Every accepted signed time, up to the edges of years 1 and 9999, has one value in ms
    whatever zone the host runs in (the local zone is never involved)."""
    assert signed_time_ms(text) == ms


@pytest.mark.parametrize("value", [None, b""])
def test_an_empty_models_log_record_is_named_as_an_empty_document(value: bytes | None) -> None:
    """A record with no value (or an empty one) is E_SCHEMA saying the document is empty."""
    with pytest.raises(ContractError) as caught:
        parse_entry(value)
    assert (caught.value.code, caught.value.message) == (
        "E_SCHEMA",
        "not a models.log record: Input is a zero-length, empty document: line 1 column 1 (char 0)",
    )


def test_received_bytes_returns_an_event_that_itself_holds_an_event_field() -> None:
    """The event is everything after the entry's first `,"event":`, even when the event's own
    bytes carry that text again (a free-form key named `event`)."""
    raw = orjson.dumps({**factories.model_update(), "params": {"a": 1, "event": {"b": 2}}})
    assert b',"event":' in raw
    assert received_bytes(event_record(raw, SOURCE, timestamp=5)) == raw
    assert received_bytes(event_record(raw, SOURCE)) == raw


def test_received_bytes_refuses_a_truncated_entry() -> None:
    """An event entry cut short (its closing braces lost) is not one: None."""
    raw = orjson.dumps(factories.model_update())
    entry = event_record(raw, SOURCE)
    assert received_bytes(entry) == raw
    assert entry.endswith(b"]}}")
    assert received_bytes(entry[:-2]) is None


def test_received_bytes_refuses_an_entry_not_written_by_event_record() -> None:
    """An event entry with its keys in another order parses as an entry, but its bytes are
    not the router's form: received_bytes does not vouch for them (None)."""
    raw = orjson.dumps(factories.model_update())
    entry = b'{"source":' + orjson.dumps(SOURCE.model_dump()) + b',"kind":"event","event":'
    entry += raw + b"}"
    assert parse_entry(entry).kind == "event"
    assert received_bytes(entry) is None


@pytest.mark.parametrize("entry", [b'{"kind":"event","source":{}}', b'{"kind":"data"}'])
def test_received_bytes_is_none_without_an_event_field(entry: bytes) -> None:
    """An entry that carries no event field yields None, whatever it begins with."""
    assert received_bytes(entry) is None
