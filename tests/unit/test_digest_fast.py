"""The arrival digest on the hot path (validated fields straight to canonical JSON) against its
definition (`digest(to_jsonable(event))`, pydantic's serializer): equal on every arrival the
contract accepts. A stored window keeps these digests, and replay compares decisions whose
inputs carry them, so the fast form must never differ from the old one by a byte."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.contracts.codec import parse_obj, to_jsonable
from orchestrator.contracts.events import DataArrival
from orchestrator.core.digest import digest, digest_of_fields
from orchestrator.core.openwindow import arrival_digest

text = st.text(min_size=1, max_size=30)
offsets = st.sampled_from(
    [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
)
times = st.builds(
    lambda base, tz, micro: base.replace(tzinfo=UTC).astimezone(tz).replace(microsecond=micro),
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 30)),
    offsets,
    st.sampled_from([0, 1, 500_000, 123_456, 999_999]),
)
attr_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)


def wire_time(t: datetime) -> str:
    """An RFC 3339 string for `t`, in one of the forms producers write."""
    s = t.isoformat()
    return s.replace("+00:00", "Z") if t.utcoffset() == timedelta(0) else s


@settings(max_examples=400, deadline=None)
@given(
    event_id=text,
    source=text,
    event_time=times,
    uri=text,
    record_count=st.integers(min_value=0, max_value=2**63 - 1),
    fingerprint=st.none() | text,
    produced_at=st.none() | times,
    attributes=st.none() | st.dictionaries(st.text(max_size=10), attr_values, max_size=5),
)
def test_fast_digest_equals_the_serializer_form(
    event_id: str,
    source: str,
    event_time: datetime,
    uri: str,
    record_count: int,
    fingerprint: str | None,
    produced_at: datetime | None,
    attributes: dict[str, Any] | None,
) -> None:
    obj: dict[str, Any] = {
        "type": "data.arrival",
        "v": 1,
        "event_id": event_id,
        "dataset": "d",
        "source": source,
        "event_time": wire_time(event_time),
        "uri": uri,
        "record_count": record_count,
        "checksum": "sha256:x",
    }
    for name, value in (
        ("schema_fingerprint", fingerprint),
        ("produced_at", None if produced_at is None else wire_time(produced_at)),
        ("attributes", attributes),
    ):
        if value is not None:
            obj[name] = value
    event = parse_obj(obj)
    assert isinstance(event, DataArrival)
    assert arrival_digest(event) == digest(to_jsonable(event))


def test_a_model_built_in_python_digests_like_its_wire_form() -> None:
    """Callers may build an arrival from a datetime in another zone: validation makes it UTC,
    and a naive or non-UTC value that bypassed validation still digests as the serializer
    writes it."""
    local = datetime(2026, 11, 23, 12, 0, 0, 250_000, tzinfo=timezone(timedelta(hours=2)))
    event = DataArrival(
        event_id="e",
        dataset="d",
        source="s",
        event_time=local,
        uri="u",
        record_count=1,
        checksum="c",
    )
    assert arrival_digest(event) == digest(to_jsonable(event))
    raw = DataArrival.model_construct(**{**event.__dict__, "event_time": local})
    fields = {k: v for k, v in raw.__dict__.items() if v is not None}
    assert digest_of_fields(fields) == digest(to_jsonable(raw))
