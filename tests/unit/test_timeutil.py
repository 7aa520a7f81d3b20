"""Durations, RFC 3339 and window ids (SPEC §3)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.core.timeutil import (
    format_duration_s,
    format_rfc3339_ms,
    parse_duration_ms,
    parse_rfc3339_ms,
    parse_window_id,
    window_id,
    window_start_ms,
)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("PT1H", 3_600_000),
        ("PT5M", 300_000),
        ("PT45S", 45_000),
        ("P1D", 86_400_000),
        ("PT1H30M", 5_400_000),
        ("P1DT2H", 93_600_000),
        ("PT0.5S", 500),
        ("PT0S", 0),
    ],
)
def test_parse_duration(text: str, ms: int) -> None:
    """ISO 8601 day/hour/minute/second durations parse to milliseconds."""
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["P1M", "P1Y", "1H", "PT", "P", "PTH", "PT1H2", ""])
def test_parse_duration_rejects(text: str) -> None:
    """Months, years and malformed durations are refused."""
    with pytest.raises(ValueError):
        parse_duration_ms(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(86_400, "PT24H"), (5_400, "PT1H30M"), (45, "PT45S"), (3_600, "PT1H"), (3_661, "PT1H1M1S")],
)
def test_format_duration(seconds: int, text: str) -> None:
    """Window sizes use hours, minutes and seconds only, zero parts left out."""
    assert format_duration_s(seconds) == text


def test_window_id_example() -> None:
    """The SPEC's example window id."""
    start = parse_rfc3339_ms("2026-11-23T10:00:00Z")
    assert window_id("clicks", start, 3_600_000) == "clicks/2026-11-23T10:00:00Z/PT1H"


def test_rfc3339_offset_is_utc() -> None:
    """Times with an offset are the same instant in UTC."""
    assert parse_rfc3339_ms("2026-11-23T11:00:00+01:00") == parse_rfc3339_ms("2026-11-23T10:00:00Z")


@given(
    st.integers(min_value=0, max_value=4_000_000_000_000),
    st.sampled_from([1, 60, 3600, 5400, 86400]),
)
def test_window_contains_event(event_ms: int, size_s: int) -> None:
    """The tumbling window of an event starts at or before it and ends after it, epoch-aligned."""
    size = size_s * 1000
    start = window_start_ms(event_ms, size)
    assert start <= event_ms < start + size and start % size == 0
    ds, s, w = parse_window_id(window_id("a/b", start, size))
    assert (ds, s, w) == ("a/b", start, size)
    assert parse_rfc3339_ms(format_rfc3339_ms(event_ms)) == event_ms
