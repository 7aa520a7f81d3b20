"""Event contracts: round trips, and every bad-input class of SPEC §2 maps to its code."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import errors
from orchestrator.contracts import decode, encode, key_of
from orchestrator.contracts.codec import MAX_PAYLOAD_BYTES
from orchestrator.contracts.schema import ALL_SCHEMAS, export
from tests import factories


@pytest.mark.parametrize("make", factories.ALL, ids=lambda f: f.__name__)
def test_round_trip(make) -> None:  # type: ignore[no-untyped-def]
    """Every type decodes, encodes and decodes again to an equal, frozen model."""
    raw = orjson.dumps(make())
    event = decode(raw)
    again = decode(encode(event), key_of(event).encode())
    assert again == event
    with pytest.raises(Exception):  # noqa: B017 - frozen models refuse assignment
        event.event_id = "x"  # type: ignore[misc]


def test_offsets_are_handled_as_utc() -> None:
    """An event time with an offset is stored as the same instant in UTC."""
    a = decode(orjson.dumps(factories.arrival(event_time="2026-11-23T11:05:00+01:00")))
    b = decode(orjson.dumps(factories.arrival(event_time="2026-11-23T10:05:00Z")))
    assert a == b and encode(a) == encode(b)


def _code(raw: bytes, key: bytes | None = None, role: str | None = None) -> str:
    with pytest.raises(errors.ContractError) as info:
        decode(raw, key, topic_role=role)
    return info.value.code


@pytest.mark.parametrize(
    ("raw", "key", "role", "code"),
    [
        (b"\xff\xfe not utf8", None, None, errors.E_DECODE),
        (b"{not json", None, None, errors.E_DECODE),
        (b"[1,2]", None, None, errors.E_SCHEMA),
        (
            orjson.dumps({**factories.arrival(), "type": "data.nope"}),
            None,
            None,
            errors.E_UNKNOWN_TYPE,
        ),
        (
            orjson.dumps({k: v for k, v in factories.arrival().items() if k != "type"}),
            None,
            None,
            errors.E_UNKNOWN_TYPE,
        ),
        (orjson.dumps({**factories.arrival(), "v": 2}), None, None, errors.E_UNKNOWN_TYPE),
        (orjson.dumps({**factories.arrival(), "v": "1"}), None, None, errors.E_UNKNOWN_TYPE),
        (
            orjson.dumps({k: v for k, v in factories.arrival().items() if k != "uri"}),
            None,
            None,
            errors.E_SCHEMA,
        ),
        (orjson.dumps({**factories.arrival(), "record_count": -1}), None, None, errors.E_SCHEMA),
        (orjson.dumps({**factories.arrival(), "record_count": "ten"}), None, None, errors.E_SCHEMA),
        (
            orjson.dumps({**factories.arrival(), "event_time": "2026-11-23T10:00:00"}),
            None,
            None,
            errors.E_SCHEMA,
        ),
        (orjson.dumps({**factories.arrival(), "event_id": ""}), None, None, errors.E_SCHEMA),
        (orjson.dumps({**factories.arrival(), "event_id": "x" * 201}), None, None, errors.E_SCHEMA),
        (orjson.dumps({**factories.arrival(), "surprise": 1}), None, None, errors.E_SCHEMA),
        (
            orjson.dumps({**factories.model_update(), "metrics": {"auc": "high"}}),
            None,
            None,
            errors.E_SCHEMA,
        ),
        (orjson.dumps({**factories.override(), "outcome": "maybe"}), None, None, errors.E_SCHEMA),
        (orjson.dumps(factories.arrival()), b"payments", None, errors.E_KEY_MISMATCH),
        (orjson.dumps(factories.model_update()), b"clicks", None, errors.E_KEY_MISMATCH),
        (orjson.dumps(factories.model_update()), b"churn", "arrivals", errors.E_UNKNOWN_TYPE),
        (b" " * (MAX_PAYLOAD_BYTES + 1), None, None, errors.E_TOO_LARGE),
    ],
)
def test_bad_input_codes(raw: bytes, key: bytes | None, role: str | None, code: str) -> None:
    """Each class of bad input gets its stable code."""
    assert _code(raw, key, role) == code


def test_schema_error_names_field() -> None:
    """A schema error names the field and the reason."""
    with pytest.raises(errors.ContractError) as info:
        decode(orjson.dumps({**factories.arrival(), "record_count": -1}))
    assert "record_count" in info.value.message and "greater than or equal" in info.value.message
    assert info.value.event_id == "a1"


@settings(max_examples=300)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_only_raise_contract_errors(raw: bytes) -> None:
    """Arbitrary bytes either decode or raise ContractError, nothing else."""
    try:
        decode(raw, raw[:8] or None)
    except errors.ContractError as exc:
        assert exc.code in errors.INPUT_CODES


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=6)
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(
    json_values,
    st.sampled_from(factories.ALL),
    st.sampled_from(["v", "event_id", "dataset", "metrics", "type", "event_time", "outcome"]),
)
def test_arbitrary_json_only_raises_contract_errors(value, make, field) -> None:  # type: ignore[no-untyped-def]
    """Arbitrary JSON, alone or in a field of a valid event, raises nothing but ContractError."""
    for obj in (value, {**make(), field: value}):
        try:
            decode(json.dumps(obj).encode())
        except errors.ContractError as exc:
            assert exc.code in errors.INPUT_CODES


def test_schema_export(tmp_path: Path) -> None:
    """`schema export` writes one valid JSON Schema per type, and it accepts a valid event."""
    import jsonschema

    paths = export(tmp_path)
    assert {p.name for p in paths} == {f"{t}.schema.json" for t in ALL_SCHEMAS}
    schema = json.loads((tmp_path / "data.arrival.schema.json").read_text())
    jsonschema.validate(factories.arrival(), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**factories.arrival(), "record_count": -1}, schema)
