"""Time and bounds, pinned: the exact refusals of a window size and of a malformed window id,
and what a window's arrivals may weigh for a given record size limit."""

from __future__ import annotations

import pytest

from orchestrator.core.policy import (
    KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
    WINDOW_HEADROOM_BYTES,
    DatasetSpec,
    window_bytes_for,
)
from orchestrator.core.timeutil import dataset_start, format_duration_s, parse_window_id


@pytest.mark.parametrize("seconds", [0, -1, -3600])
def test_a_window_size_that_is_not_positive_is_refused(seconds: int) -> None:
    """Zero or a negative number of seconds has no duration: the message says what is needed."""
    with pytest.raises(ValueError) as caught:
        format_duration_s(seconds)
    assert str(caught.value) == "a window size must be a positive whole number of seconds"


@pytest.mark.parametrize(("seconds", "text"), [(1, "PT1S"), (3600, "PT1H"), (86_461, "PT24H1M1S")])
def test_a_window_size_is_written_in_hours_minutes_and_seconds(seconds: int, text: str) -> None:
    """The smallest size and sizes of a day or more are written without days."""
    assert format_duration_s(seconds) == text


@pytest.mark.parametrize(
    "wid",
    [
        "clicks",  # no slash at all
        "2026-11-23T10:00:00Z/PT1H",  # no dataset
        "/2026-11-23T10:00:00Z/PT1H",  # an empty dataset
    ],
)
def test_a_window_id_without_three_parts_is_refused_naming_it(wid: str) -> None:
    """An id that lacks a dataset, a start or a size is refused with its repr, and belongs to
    no dataset."""
    with pytest.raises(ValueError) as caught:
        parse_window_id(wid)
    assert str(caught.value) == f"{wid!r} is not a window id"
    assert dataset_start(wid) == ("", 0)


def test_a_dataset_name_may_hold_slashes() -> None:
    """The start and size are the last two parts; everything before is the dataset."""
    assert parse_window_id("a/b/2026-11-23T10:00:00Z/PT1H") == (
        "a/b",
        1_795_428_000_000,
        3_600_000,
    )


@pytest.mark.parametrize(
    ("limit", "weight"),
    [
        (KAFKA_DEFAULT_MAX_MESSAGE_BYTES, 917_516),
        (WINDOW_HEADROOM_BYTES + 2, 2),
        (WINDOW_HEADROOM_BYTES + 1, 1),
        (WINDOW_HEADROOM_BYTES, 1),
        (1, 1),
    ],
)
def test_window_weight_leaves_the_headroom_and_is_at_least_one_byte(
    limit: int, weight: int
) -> None:
    """Arrivals may weigh the record limit less 128 KiB of headroom, and never less than one
    byte: a limit below the headroom still lets a window hold something."""
    assert window_bytes_for(limit) == weight


def test_a_dataset_defaults_to_the_weight_of_kafkas_default_record_size() -> None:
    """Without a stated limit, a dataset's windows may weigh 1 048 588 - 131 072 bytes."""
    spec = DatasetSpec(
        name="clicks", window_ms=3_600_000, out_of_orderness_ms=0, allowed_lateness_ms=0
    )
    assert spec.max_window_bytes == 917_516
