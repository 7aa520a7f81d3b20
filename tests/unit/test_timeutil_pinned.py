"""Time at the edge, pinned: which RFC 3339 / ISO 8601 forms are read (to the exact
millisecond), which are refused, and what a malformed window id yields."""

from __future__ import annotations

import pytest

from orchestrator.core.timeutil import (
    dataset_start,
    format_duration_s,
    parse_duration_ms,
    parse_rfc3339_ms,
    parse_window_id,
)

T0_MS = 1_795_428_000_000  # 2026-11-23T10:00:00Z


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-11-23T10:00:00Z", T0_MS),
        ("2026-11-23T10:00:00z", T0_MS),  # RFC 3339 §5.6: "Z" may be lower case
        ("2026-11-23t10:00:00z", T0_MS),  # ... and so may "T"
        ("2026-11-23 10:00:00Z", T0_MS),  # RFC 3339 §5.6 note: a space for "T"
        ("2026-11-23T10:00:00.123Z", T0_MS + 123),
        ("2026-11-23T10:00:00.5z", T0_MS + 500),
        ("2026-11-23T11:00:00+01:00", T0_MS),
        ("2026-11-23T05:30:00-04:30", T0_MS),
        ("2026-11-23T10:00:00-00:00", T0_MS),  # RFC 3339 §4.3: UTC, local offset unknown
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999Z", -1),
    ],
)
def test_rfc3339_forms_read_to_the_millisecond(text: str, ms: int) -> None:
    """Each RFC 3339 form with an offset reads as the exact epoch millisecond."""
    assert parse_rfc3339_ms(text) == ms


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-11-23",  # a date is not an instant
        "2026-11-23Z10:00:00Z",  # "Z" is an offset, never the date/time separator
        "2026-11-23T10:00:00ZZ",
        "2026-11-23T24:00:00Z",
        "2026-11-31T10:00:00Z",
        "next tuesday",
    ],
)
def test_rfc3339_malformed_is_refused(text: str) -> None:
    """Text that is not an RFC 3339 instant is a ValueError."""
    with pytest.raises(ValueError):
        parse_rfc3339_ms(text)


def test_a_time_without_an_offset_is_refused_saying_why() -> None:
    """A local time names no instant; the ValueError says the offset is missing."""
    with pytest.raises(ValueError) as caught:
        parse_rfc3339_ms("2026-11-23T10:00:00")
    assert str(caught.value) == "naive datetime: times must carry an offset"


@pytest.mark.parametrize("text", ["PT", "P", "P1DT", "PT1H2", "P1M"])
def test_duration_with_a_dangling_or_unknown_part_is_refused(text: str) -> None:
    """A duration ending in its time designator "T" (with or without days) is refused."""
    with pytest.raises(ValueError, match="is not an ISO 8601 duration"):
        parse_duration_ms(text)


@pytest.mark.parametrize(("text", "ms"), [("P1D", 86_400_000), ("P1DT1S", 86_401_000)])
def test_duration_with_days_and_time_parts(text: str, ms: int) -> None:
    """Days alone, or days then a time part, read to milliseconds."""
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("seconds", [0, -1, -3600])
def test_a_window_size_must_be_positive(seconds: int) -> None:
    """Zero and negative sizes cannot be written as a window size."""
    with pytest.raises(ValueError):
        format_duration_s(seconds)


def test_the_smallest_window_size_is_one_second() -> None:
    """One second is the smallest size that can be written."""
    assert format_duration_s(1) == "PT1S"


@pytest.mark.parametrize(
    "wid",
    [
        "/2026-11-23T10:00:00Z/PT1H",  # no dataset
        "2026-11-23T10:00:00Z/PT1H",  # no start
        "clicks",
        "",
    ],
)
def test_window_id_without_all_three_parts_is_refused(wid: str) -> None:
    """A window id needs a non-empty dataset, a start and a size."""
    with pytest.raises(ValueError):
        parse_window_id(wid)


@pytest.mark.parametrize(
    ("wid", "expected"),
    [
        ("clicks/2026-11-23T10:00:00Z/PT1H", ("clicks", T0_MS)),
        ("eu/clicks/2026-11-23T10:00:00Z/PT1H", ("eu/clicks", T0_MS)),
        ("run-7", ("", 0)),
        ("/2026-11-23T10:00:00Z/PT1H", ("", 0)),
        ("clicks/yesterday/PT1H", ("", 0)),
    ],
)
def test_dataset_start_of_a_window_id_or_of_anything_else(
    wid: str, expected: tuple[str, int]
) -> None:
    """A window id yields its dataset and start; anything else yields ("", 0)."""
    assert dataset_start(wid) == expected
