"""Every way a record can fail to decode, with its exact code, message and event id: what a
producer reads in the dlq or on the command line must name the field and the reason."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from orchestrator.contracts.codec import MAX_PAYLOAD_BYTES, b64, cut, decode, shown
from orchestrator.errors import ContractError
from tests import factories


def failure(
    value: bytes | None, key: bytes | None = None, role: str | None = None
) -> tuple[Any, ...]:
    with pytest.raises(ContractError) as caught:
        decode(value, key, topic_role=role)
    e = caught.value
    return e.code, e.message, e.event_id


def arrival(**changes: Any) -> bytes:
    return orjson.dumps({**factories.arrival("a1"), **changes})


@pytest.mark.parametrize(
    ("value", "key", "role", "expected"),
    [
        (None, None, None, ("E_DECODE", "record has no value (tombstone)", None)),
        (b"{not json", None, None, ("E_DECODE", None, None)),
        (b"[1, 2]", None, None, ("E_SCHEMA", "an event must be a JSON object", None)),
        (
            orjson.dumps({"type": "data.nope", "event_id": "e9"}),
            None,
            None,
            (
                "E_UNKNOWN_TYPE",
                "field 'type': unknown event type 'data.nope'; use \"type\": one of "
                '"data.arrival", "data.watermark", "model.update", "command.rollback", '
                '"command.override", "model.performance"',
                "e9",
            ),
        ),
        (
            arrival(v=2),
            None,
            None,
            (
                "E_UNKNOWN_TYPE",
                "field 'v': schema version 2 of data.arrival is not supported; use \"v\": 1",
                "a1",
            ),
        ),
        (
            arrival(),
            b"clicks",
            "commands",
            (
                "E_UNKNOWN_TYPE",
                "field 'type': data.arrival does not belong on the commands topic",
                "a1",
            ),
        ),
        (
            arrival(),
            None,
            "arrivals",
            (
                "E_KEY_MISMATCH",
                "record has no key; a data.arrival must be keyed by field 'dataset' ('clicks') "
                "so that all of its events share one partition",
                "a1",
            ),
        ),
        (
            arrival(),
            b"\xffpay",
            "arrivals",
            (
                "E_KEY_MISMATCH",
                "record key '\\\\xffpay' must equal field 'dataset' ('clicks') for data.arrival",
                "a1",
            ),
        ),
        (
            arrival(record_count=-1),
            None,
            None,
            ("E_SCHEMA", "field 'record_count': Input should be greater than or equal to 0", "a1"),
        ),
    ],
    ids=[
        "tombstone",
        "not-json",
        "not-object",
        "unknown-type",
        "unknown-version",
        "wrong-topic",
        "no-key",
        "key-mismatch",
        "field",
    ],
)
def test_each_failure_names_its_code_field_and_reason(
    value: bytes | None, key: bytes | None, role: str | None, expected: tuple[Any, ...]
) -> None:
    code, message, event_id = failure(value, key, role)
    assert (code, event_id) == (expected[0], expected[2])
    if expected[1] is None:
        assert message.startswith("not UTF-8 JSON: ")
    else:
        assert message == expected[1]


def test_a_payload_of_exactly_the_limit_is_read_one_byte_more_is_not() -> None:
    event = arrival()
    padded = event[:-1] + b" " * (MAX_PAYLOAD_BYTES - len(event)) + b"}"
    assert len(padded) == MAX_PAYLOAD_BYTES and decode(padded).event_id == "a1"  # type: ignore[union-attr]
    code, message, _ = failure(padded + b" ")
    assert (code, message) == (
        "E_TOO_LARGE",
        f"payload is {MAX_PAYLOAD_BYTES + 1} bytes; the limit is {MAX_PAYLOAD_BYTES}",
    )


def test_many_field_errors_are_named_ten_at_a_time() -> None:
    from pydantic import ValidationError

    from orchestrator.contracts.events import DataArrival

    obj = factories.arrival("a1", attributes={f"k{i}": [i] for i in range(12)})
    with pytest.raises(ValidationError) as raw:
        DataArrival.model_validate(obj)
    n = len(raw.value.errors())
    code, message, event_id = failure(orjson.dumps(obj))
    parts = message.split("; ")
    assert (code, event_id, len(parts)) == ("E_SCHEMA", "a1", 11) and n > 10
    assert all(p.startswith("field 'attributes.k") for p in parts[:10])
    assert parts[10] == f"and {n - 10} more errors"


def test_an_error_of_the_whole_event_is_named_as_such() -> None:
    code, message, _ = failure(orjson.dumps({**factories.arrival("a1"), "unexpected": 1}))
    assert (code, message) == ("E_SCHEMA", "field 'unexpected': Extra inputs are not permitted")


def test_a_long_event_id_is_kept_to_its_first_200_characters() -> None:
    _, _, event_id = failure(orjson.dumps({"type": "nope", "event_id": "x" * 500}))
    assert event_id == "x" * 200


def test_long_values_are_cut_to_their_limit() -> None:
    assert cut("abcdef", 6) == "abcdef" and cut("abcdefg", 6) == "abc..."
    assert shown("x" * 200) == repr("x" * 200)[:117] + "..." and len(shown("x" * 200)) == 120
    assert shown(None) == "None"
    assert b64(b"\x00\xff") == "AP8=" and b64(None) is None
