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
from tests.conftest import examples


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


@settings(**examples(300))  # type: ignore[arg-type]
@given(st.binary(max_size=512))
def test_arbitrary_bytes_only_raise_contract_errors(raw: bytes) -> None:
    """Arbitrary bytes either decode (to an event that survives a round trip) or raise
    ContractError with an input code, nothing else."""
    try:
        event = decode(raw, raw[:8] or None)
    except errors.ContractError as exc:
        assert exc.code in errors.INPUT_CODES and exc.message
    else:
        assert decode(encode(event), key_of(event).encode()) == event


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=6)
    ),
    max_leaves=20,
)


@settings(**examples(300))  # type: ignore[arg-type]
@given(
    json_values,
    st.sampled_from(factories.ALL),
    st.sampled_from(["v", "event_id", "dataset", "metrics", "type", "event_time", "outcome"]),
)
def test_arbitrary_json_only_raises_contract_errors(value, make, field) -> None:  # type: ignore[no-untyped-def]
    """Arbitrary JSON, alone or in a field of a valid event, raises nothing but ContractError;
    what decodes survives a round trip, and keeps the other fields it was given."""
    for obj in (value, {**make(), field: value}):
        try:
            event = decode(json.dumps(obj).encode())
        except errors.ContractError as exc:
            assert exc.code in errors.INPUT_CODES and exc.message
        else:
            assert decode(encode(event)) == event
            wire = orjson.loads(encode(event))
            assert all(
                wire.get(k) == v
                for k, v in make().items()
                if k not in (field, "event_time", "watermark", "metrics")
            )


def test_schema_export(tmp_path: Path) -> None:
    """`schema export` writes one valid JSON Schema per type and one per input topic (by role
    name without a catalog), and the type's schema accepts a valid event."""
    import jsonschema

    paths = export(tmp_path)
    assert {str(p.relative_to(tmp_path)) for p in paths} == {
        f"{t}.schema.json" for t in ALL_SCHEMAS
    } | {f"topics/{role}.schema.json" for role in ("arrivals", "model_updates", "commands")}
    for p in paths:
        jsonschema.Draft202012Validator.check_schema(json.loads(p.read_text()))
    schema = json.loads((tmp_path / "data.arrival.schema.json").read_text())
    jsonschema.validate(factories.arrival(), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**factories.arrival(), "record_count": -1}, schema)


# -- bounds on what a contract admits (SPEC §2) ----------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [
        {**factories.arrival(), "record_count": 2**63},
        {**factories.arrival(), "record_count": 18446744073709551615},
        {**factories.arrival(), "record_count": 2**64},
        {**factories.arrival(), "attributes": {"n": 2**63}},
        {**factories.model_update(), "params": {"n": 18446744073709551615}},
    ],
    ids=["count-2^63", "count-u64-max", "count-2^64", "attr-2^63", "param-u64-max"],
)
def test_integers_outside_signed_64_bit_are_schema_errors(obj: dict[str, object]) -> None:
    """Integers must fit signed 64-bit: beyond, E_SCHEMA (orjson could not write them back).
    (A literal beyond 64 bits unsigned is read as a float by the JSON parser, and a float is
    what a free-form value then holds.)"""
    assert _code(json.dumps(obj).encode()) == errors.E_SCHEMA


def test_integers_at_the_64_bit_bounds_round_trip() -> None:
    """2^63-1 and -2^63 are accepted and survive a round trip."""
    obj = {**factories.arrival(), "record_count": 2**63 - 1, "attributes": {"lo": -(2**63)}}
    event = decode(orjson.dumps(obj))
    assert decode(encode(event)) == event


@pytest.mark.parametrize("make", factories.ALL, ids=lambda f: f.__name__)
def test_a_record_without_a_key_is_a_key_mismatch(make) -> None:  # type: ignore[no-untyped-def]
    """Every event type read from its topic must carry its key (a keyless record would land
    on any partition and split its dataset's or model's order)."""
    from orchestrator.contracts.events import TOPIC_ROLE_FOR_TYPE

    obj = make()
    with pytest.raises(errors.ContractError) as info:
        decode(orjson.dumps(obj), None, topic_role=TOPIC_ROLE_FOR_TYPE[obj["type"]])
    assert info.value.code == errors.E_KEY_MISMATCH
    assert "no key" in info.value.message


def test_messages_never_carry_a_whole_input() -> None:
    """An unknown type of a megabyte, or a thousand bad fields, give a short message."""
    huge = {**factories.arrival(), "type": "x" * 1_000_000}
    with pytest.raises(errors.ContractError) as info:
        decode(orjson.dumps(huge))
    assert len(info.value.message) < 300
    many = {**factories.arrival(), "attributes": {f"k{i}": [i] for i in range(1000)}}
    with pytest.raises(errors.ContractError) as info:
        decode(orjson.dumps(many))
    assert len(info.value.message) < 2000 and "more errors" in info.value.message


# -- the dlq envelope ------------------------------------------------------------------------


def _envelope(
    value: bytes, key: bytes | None = b"payments", limit: int = 64 * 1024
) -> tuple[bytes | None, dict[str, object]]:
    from datetime import UTC, datetime

    from orchestrator.contracts.dlq import envelope

    k, v = envelope(
        code="E_DECODE",
        message="not UTF-8 JSON",
        event_id=None,
        value=value,
        key=key,
        topic="data.arrivals",
        partition=3,
        offset=17,
        at=datetime(2026, 11, 23, tzinfo=UTC),
        max_bytes=limit,
    )
    assert len(v) + len(k or b"") <= limit
    return k, orjson.loads(v)


def test_a_small_original_is_kept_whole() -> None:
    """Below the limit the original bytes are in the envelope, base64, untouched."""
    import base64

    _, env = _envelope(b"\xffnot json")
    assert base64.b64decode(env["original"]) == b"\xffnot json"  # type: ignore[arg-type]
    assert "original_truncated" not in env and env["offset"] == 17


def test_an_oversize_original_is_cut_keeping_size_and_digest() -> None:
    """The fault report's record (0xff + 900k bytes) against a 64 KiB dlq: the envelope fits,
    and says how big the original was, its SHA-256, and where it is."""
    import base64
    import hashlib

    raw = b"\xff" + b"z" * 900_000
    key, env = _envelope(raw)
    head = base64.b64decode(env["original"])  # type: ignore[arg-type]
    assert env["original_truncated"] is True and env["original_size"] == len(raw)
    assert env["original_sha256"] == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert raw.startswith(head) and len(head) > 1000
    assert (env["topic"], env["partition"], env["offset"]) == ("data.arrivals", 3, 17)
    assert key == b"payments"


def test_an_oversize_key_is_cut_too() -> None:
    """A megabyte key is cut in the envelope and as the dlq record's own key."""
    key, env = _envelope(b"x", key=b"k" * 1_000_000)
    assert env["key_truncated"] is True and key is not None and len(key) == 1024


def test_the_envelope_keeps_exactly_what_the_worst_case_leaves_room_for() -> None:
    """Room for the original: the limit, less framing, a 2000-character message of escaped
    characters and the key twice, in base64 (x 3/4). An original of that size is kept whole,
    one byte more is cut to it; with the worst case of every other field the record fits."""
    import base64

    from orchestrator.contracts.dlq import envelope

    limit = 64 * 1024
    room = (limit - (4096 + 2000 * 6 + 3 * 1024)) * 3 // 4
    _, whole = _envelope(b"y" * room, limit=limit)
    assert "original_truncated" not in whole
    assert len(base64.b64decode(whole["original"])) == room  # type: ignore[arg-type]
    _, cut_ = _envelope(b"y" * (room + 1), limit=limit)
    assert cut_["original_truncated"] is True and cut_["original_size"] == room + 1
    assert len(base64.b64decode(cut_["original"])) == room  # type: ignore[arg-type]
    from datetime import UTC, datetime

    k, v = envelope(
        code="E_SCHEMA",
        message="\x01" * 5000,
        event_id="e" * 300,
        value=b"\x00" * 10**6,
        key=bytes(range(256)) * 8,
        topic="data.arrivals",
        partition=0,
        offset=0,
        at=datetime(2026, 11, 23, tzinfo=UTC),
        max_bytes=limit,
    )
    env = orjson.loads(v)
    assert len(v) + len(k or b"") <= limit
    assert env["event_id"] == "e" * 197 + "..." and len(env["message"]) == 2000
    assert k == (bytes(range(256)) * 8)[:1024] and env["key_truncated"] is True
    assert base64.b64decode(env["key"]) == k


def test_an_empty_or_keyless_record_has_an_empty_original_and_no_key() -> None:
    key, env = _envelope(b"", key=None)
    assert (key, env["original"], env.get("key"), env.get("key_truncated")) == (
        None,
        "",
        None,
        None,
    )
    assert "original_truncated" not in env


def test_a_key_of_exactly_the_limit_is_kept_whole() -> None:
    key, env = _envelope(b"x", key=b"k" * 1024)
    assert key == b"k" * 1024 and "key_truncated" not in env


def test_with_no_room_at_all_nothing_of_the_original_is_kept() -> None:
    from datetime import UTC, datetime

    from orchestrator.contracts.dlq import envelope

    _, v = envelope(
        code="E_DECODE",
        message="m",
        event_id=None,
        value=b"abc",
        key=None,
        topic="t",
        partition=0,
        offset=1,
        at=datetime(2026, 11, 23, tzinfo=UTC),
        max_bytes=1000,
    )
    env = orjson.loads(v)
    assert env["original"] == "" and env["original_truncated"] is True and env["original_size"] == 3


def test_a_no_champion_record_reads_back_and_meets_its_schema() -> None:
    """After a rollback with nowhere to go, `models.champions` says so with no version: the
    wire form leaves the field out, and both our own model and the exported JSON Schema (what
    other consumers validate with) must still take it."""
    import jsonschema

    from orchestrator.contracts.records import ChampionRecord
    from orchestrator.contracts.schema import type_schema

    record = ChampionRecord(
        model="churn", version=None, decision_id="sha256:d", since="2026-11-23T10:00:00Z"
    )
    wire = orjson.loads(encode(record))
    assert "version" not in wire
    assert ChampionRecord.model_validate(wire) == record
    jsonschema.validate(wire, type_schema("model.champion"))
