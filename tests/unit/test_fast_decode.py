"""The arrivals topic's compiled decoder against the contract (a differential test).

`fast.decode_arrival(value, key)` must give what `codec.decode(value, key, topic_role="arrivals")`
gives for every record: the same event (equal fields, the same value types, the same fields set,
the same field order) or the same ContractError (code, message, event id). The records are
generated arrivals and watermarks, then mutated field by field, byte by byte and as JSON text
(duplicate keys, escapes, numbers), where the two decoders' parsers and rules could part ways.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.contracts import fast
from orchestrator.contracts.codec import decode
from orchestrator.errors import ContractError

TIMES = [
    "2026-11-23T10:00:00Z",
    "2026-11-23T10:00:00.5Z",
    "2026-11-23T10:00:00.123456Z",
    "2026-11-23T10:00:00.1234567Z",  # seven digits: the contract's spelling, not the fast one
    "2026-11-23T10:00:00.000000001Z",
    "2026-11-23T10:00:00.9999999Z",
    "2026-11-23t10:00:00z",
    "2026-11-23T10:00:00+05:30",
    "2026-11-23T10:00:00-00:00",
    "2026-11-23T23:59:59.999999-23:59",
    "2026-11-23 10:00:00Z",
    "2026-11-23T10:00:00",
    "2026-11-23T24:00:00Z",
    "2026-11-23T10:00:60Z",
    "2026-11-23T10:00:00+24:00",
    "2024-02-29T00:00:00Z",
    "2027-02-29T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-04-31T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00-01:00",
    "9999-12-31T23:00:00-05:00",
    "9999-12-31T23:59:59.999999Z",
    "2026-11-23T10:00:00Z\n",
    " 2026-11-23T10:00:00Z",
    "2026-11-23T10:00:00.Z",
    "2026-11-23T10:00Z",
    "2026-11-23T10:00:00+0530",
    "20261123T100000Z",
    "2026-W48-1T10:00:00Z",
    "2026-11-23T10:00:00,5Z",
    "\uff12\uff10\uff12\uff16-11-23T10:00:00Z",  # full-width digits
    "",
]

STRINGS = [
    "a",
    "",
    " ",
    "x" * 200,
    "x" * 201,
    "é" * 200,
    "😀" * 200,
    "😀" * 201,
    "a\u0000b",
    "y" * 4096,
    "y" * 4097,
    "\u2028",
]

NUMBERS: list[Any] = [
    0,
    1,
    100,
    -1,
    10.0,
    10.5,
    -0.0,
    True,
    False,
    "10",
    None,
    2**63 - 1,
    2**63,
    -(2**63),
    2**64,
    1e300,
    [],
    {},
]

ATTRIBUTE_VALUES: list[Any] = [
    "s",
    "",
    0,
    -5,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    1.5,
    -0.0,
    1e308,
    True,
    None,
    [1],
    {"a": 1},
]


ARRIVAL: dict[str, Any] = {
    "type": "data.arrival",
    "v": 1,
    "event_id": "e-1",
    "dataset": "clicks",
    "source": "s",
    "event_time": "2026-11-23T10:00:00Z",
    "uri": "s3://lake/clicks/1.parquet",
    "record_count": 100,
    "checksum": "sha256:00",
}
WATERMARK: dict[str, Any] = {
    "type": "data.watermark",
    "v": 1,
    "event_id": "w-1",
    "dataset": "clicks",
    "source": "s",
    "watermark": "2026-11-23T10:00:00Z",
}


def arrival(**fields: Any) -> dict[str, Any]:
    return {**ARRIVAL, **fields}


def watermark(**fields: Any) -> dict[str, Any]:
    return {**WATERMARK, **fields}


def outcome(fn: Any, value: bytes | None, key: bytes | None) -> tuple[str, Any]:
    try:
        event = fn(value, key)
    except ContractError as exc:
        return "refused", (exc.code, str(exc), exc.event_id)
    fields = event.__dict__
    return "accepted", (
        type(event),
        list(fields),
        {k: (type(v), v) for k, v in fields.items()},
        {k: getattr(v, "tzinfo", None) for k, v in fields.items()},
        event.__pydantic_fields_set__,
        event.__pydantic_extra__,
        event.__pydantic_private__,
        event.model_dump_json(),
    )


def contract(value: bytes | None, key: bytes | None) -> Any:
    return decode(value, key, topic_role="arrivals")


def same(value: bytes | None, key: bytes | None = b"clicks") -> tuple[str, Any]:
    expected = outcome(contract, value, key)
    got = outcome(fast.decode_arrival, value, key)
    assert got == expected, (value, key)
    return expected


def dumps(obj: Any) -> bytes:
    """JSON text of `obj`; integers beyond 64 bits (which orjson cannot write) as Python's
    json module writes them."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


# -- the fast path is taken, and agrees ------------------------------------------------------


def test_the_common_arrival_takes_the_fast_path_and_is_the_contracts_model() -> None:
    value = dumps(arrival(attributes={"pad": "x", "n": 3, "f": 1.5, "b": True, "z": None}))
    s = fast._DECODER.decode(value)
    assert fast._arrival(s) == contract(value, b"clicks")  # built by the fast path itself
    assert same(value)[0] == "accepted"


def test_a_watermark_takes_the_fast_path() -> None:
    value = dumps(watermark(signature="sig"))
    assert fast._watermark(fast._DECODER.decode(value)) == contract(value, b"clicks")
    assert same(value)[0] == "accepted"
    assert same(dumps(watermark(signature=None)))[0] == "accepted"


def test_a_profile_goes_to_the_contract() -> None:
    profile = {"c": {"count": 2, "mean": 1.0, "std": 0.0, "min": 1.0, "max": 1.0}}
    value = dumps(arrival(profile=profile))
    with pytest.raises(fast._Refer):
        fast._arrival(fast._DECODER.decode(value))
    assert same(value)[0] == "accepted"
    assert same(dumps(arrival(profile=None)))[0] == "accepted"
    assert same(dumps(arrival(profile={"c": {"count": 1}})))[0] == "refused"


# -- field by field ---------------------------------------------------------------------------


def test_the_fast_time_form_is_the_contracts_pattern_narrowed() -> None:
    """Derived from the contract's RFC 3339 pattern by three replacements: each must still
    apply (a reworded contract pattern would otherwise leave the fast form as wide as it)."""
    pattern = fast._TIME.pattern
    assert pattern.count(r"\.[0-9]{1,6}") == 1
    assert "[Tt]" not in pattern
    assert "[Zz]" not in pattern


@pytest.mark.parametrize("text", TIMES)
@pytest.mark.parametrize("field", ["event_time", "produced_at"])
def test_times(field: str, text: str) -> None:
    same(dumps(arrival(**{field: text})))
    same(dumps(watermark(watermark=text)))


@pytest.mark.parametrize("text", STRINGS)
@pytest.mark.parametrize(
    "field", ["event_id", "dataset", "source", "uri", "checksum", "schema_fingerprint"]
)
def test_strings(field: str, text: str) -> None:
    value = dumps(arrival(**{field: text}))
    same(value, text.encode() if field == "dataset" else b"clicks")
    same(dumps(watermark(**{field: text})) if field in ("event_id", "source") else value)


@pytest.mark.parametrize("number", NUMBERS, ids=repr)
def test_record_count_and_version(number: Any) -> None:
    same(dumps(arrival(record_count=number)))
    same(dumps(arrival(v=number)))
    same(dumps(watermark(v=number)))
    same(dumps(arrival(event_id=number)))


@pytest.mark.parametrize("attr", ATTRIBUTE_VALUES, ids=repr)
def test_attribute_values(attr: Any) -> None:
    same(dumps(arrival(attributes={"k": attr})))
    same(dumps(arrival(attributes={"k": "ok", "other": attr})))


@pytest.mark.parametrize("attributes", [{}, None, [], "x", {"": 1}, {"k" * 300: 1}], ids=repr)
def test_attribute_shapes(attributes: Any) -> None:
    same(dumps(arrival(attributes=attributes)))


@pytest.mark.parametrize(
    "text",
    [
        b'{"k": 1e400}',
        b'{"k": -1e400}',
        b'{"k": NaN}',
        b'{"k": Infinity}',
        b'{"k": 18446744073709551616}',
        b'{"k": 340282366920938463463374607431768211456}',
        b'{"k": -9223372036854775809}',
        b'{"k": 1.0e2}',
        b'{"k": 1E2}',
        b'{"k": 0.1e-400}',
        b'{"k": 01}',
        b'{"k": "\\ud800"}',
        b'{"k": "\\udc00\\ud800"}',
        b'{"k": "\\ud83d\\ude00"}',
        b'{"k": "a\xffb"}',
        b'{"k": "\xed\xa0\x80"}',
        b'{"k": 1, "k": "two"}',
        b'{"k": ' + b"9" * 300 + b"}",  # beyond 64 bits: both parsers make it a float
        b'{"k": ' + b"9" * 5000 + b"}",
        b'{"k": -' + b"9" * 5000 + b"}",
        b'{"k": 0.' + b"9" * 5000 + b"}",
        b'{"k": 1e-99999}',
        b"{" + b",".join(b'"k%d":%d' % (i, i) for i in range(20_000)) + b"}",
        b'{"' + b"k" * 500_000 + b'": 1}',
    ],
    ids=lambda t: repr(t)[:40],
)
def test_attribute_json_text(text: bytes) -> None:
    head = dumps(arrival())[:-1]
    same(head + b',"attributes":' + text + b"}")


@pytest.mark.parametrize(
    "tail",
    [
        b',"dataset":"other"}',  # a duplicate key: both parsers must take the same one
        b',"record_count":5}',
        b',"record_count":"5"}',
        b',"event_time":"2026-11-23T11:00:00Z"}',
        b',"type":"data.watermark"}',
        b',"v":1}',
        b',"extra":1}',
        b',"attributes":null,"attributes":{"a":1}}',
        b"}   ",
        b"}\n",
        b"}x",
        b"}}",
        b",}",
    ],
)
def test_json_text(tail: bytes) -> None:
    same(dumps(arrival())[:-1] + tail)
    same(dumps(watermark())[:-1] + tail)


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"null",
        b"[]",
        b"1",
        b'"data.arrival"',
        b"\xef\xbb\xbf" + dumps(arrival()),  # a byte-order mark
        b" \t\r\n" + dumps(arrival()),
        dumps(arrival()).replace(b"clicks", b"cl\\u0069cks"),
        dumps(arrival()).replace(b'"clicks"', b'"\\ud800"'),
        b"x" * (1024 * 1024 + 1),
        dumps(arrival(uri="u" * (1024 * 1024))),
        dumps({k: v for k, v in arrival().items() if k != "type"}),
        dumps({k: v for k, v in arrival().items() if k != "v"}),
        dumps({k: v for k, v in arrival().items() if k != "event_id"}),
        dumps({"v": 1, **{k: v for k, v in arrival().items() if k != "v"}}),
        dumps(arrival(type="model.update")),
        dumps(arrival(type="Data.Arrival")),
        dumps(arrival(type=None)),
        dumps(watermark(signature="")),
        dumps(watermark(signature=5)),
        dumps(watermark(watermark=None)),
        dumps(arrival(source="orchestrator")),
    ],
    ids=lambda v: repr(v)[:60],
)
def test_whole_values(value: bytes | None) -> None:
    same(value)


@pytest.mark.parametrize("depth", [100, 1023, 1100, 100_000])
@pytest.mark.parametrize("field", ["profile", "attributes", "uri", "unknown"])
def test_deep_nesting(field: str, depth: int) -> None:
    """A value nested deeper than any parser's recursion (found: msgspec raised RecursionError
    on a deep `profile` decoded as any value, an internal error instead of the contract's
    E_DECODE); arrays and objects."""
    for open_, close in ((b"[", b"]"), (b'{"a":', b"}")):
        nested = open_ * depth + b"1" + close * depth
        same(dumps(arrival())[:-1] + b',"' + field.encode() + b'":' + nested + b"}")
    same(b"[" * depth + b"]" * depth)


@pytest.mark.parametrize("text", [b"null", b" null ", b"{}", b"[]", b'"x"', b"nul"])
def test_profile_values(text: bytes) -> None:
    same(dumps(arrival())[:-1] + b',"profile":' + text + b"}")


@pytest.mark.parametrize(
    "key", [None, b"", b"clicks", b"Clicks", b"clicks ", b"\xff", b"x" * 10_000]
)
def test_keys(key: bytes | None) -> None:
    same(dumps(arrival()), key)
    same(dumps(watermark()), key)
    same(dumps(arrival(dataset="\u00e9")), key)


# -- generated records, then mutated ----------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(TIMES + STRINGS),
)
_values = st.one_of(
    _scalars,
    st.lists(_scalars, max_size=3),
    st.dictionaries(st.text(max_size=4), _scalars, max_size=3),
)
_FIELDS = sorted({*arrival(), "schema_fingerprint", "produced_at", "attributes", "profile"})


@st.composite
def records(draw: st.DrawFn) -> bytes:
    base = draw(st.sampled_from([arrival, watermark]))()
    if draw(st.booleans()):
        base["attributes"] = draw(st.dictionaries(st.text(max_size=5), _scalars, max_size=4))
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["set", "drop", "add"]))
        if action == "drop" and base:
            base.pop(draw(st.sampled_from(sorted(base))))
        elif action == "set":
            base[draw(st.sampled_from(_FIELDS))] = draw(_values)
        else:
            base[draw(st.text(min_size=1, max_size=6))] = draw(_values)
    value = dumps(base)
    if draw(st.integers(0, 4)) == 0 and value:  # a byte of the JSON text changed
        at = draw(st.integers(0, len(value) - 1))
        value = value[:at] + bytes([draw(st.integers(0, 255))]) + value[at + 1 :]
    return value


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records(), st.sampled_from([b"clicks", None, b"other"]))
def test_generated_records(value: bytes, key: bytes | None) -> None:
    same(value, key)


def test_the_fast_path_was_taken_on_most_generated_valid_records() -> None:
    """Guards the test itself: a fast path that always deferred would pass every comparison."""
    taken = 0
    for i in range(200):
        value = dumps(arrival(event_id=f"e{i}", record_count=i, attributes={"i": i * 1.5}))
        try:
            fast._arrival(fast._DECODER.decode(value))
            taken += 1
        except fast._Refer:
            pass
    assert taken == 200
    assert math.isfinite(taken)
