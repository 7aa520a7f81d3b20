"""The time forms every verb accepts (`replay --since/--until`, `audit champion --at`), read
against a fixed clock."""

from __future__ import annotations

import pytest

from orchestrator.cli_args import join_time_values, normalize
from orchestrator.cli_parser import build_parser
from orchestrator.core.timeutil import TIME_FORMS, format_rfc3339_ms, parse_time_ms

NOW = 1_795_000_000_000  # 2026-11-18T11:06:40Z
HOUR = 3_600_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        (" now ", NOW),
        ("-1h", NOW - HOUR),
        ("-30m", NOW - 30 * 60_000),
        ("-2d", NOW - 48 * HOUR),
        ("-45s", NOW - 45_000),
        ("-1w", NOW - 7 * 24 * HOUR),
        ("now-1h", NOW - HOUR),
        ("now+2d", NOW + 48 * HOUR),
        ("2026-11-25", 1_795_564_800_000),
        ("2026-11-25T10:00:00Z", 1_795_564_800_000 + 10 * HOUR),
        ("2026-11-25T10:00:00z", 1_795_564_800_000 + 10 * HOUR),
        ("2026-11-25 10:00:00Z", 1_795_564_800_000 + 10 * HOUR),
        ("2026-11-25T11:00:00+01:00", 1_795_564_800_000 + 10 * HOUR),
        ("2026-11-25T10:00:00.250Z", 1_795_564_800_000 + 10 * HOUR + 250),
        ("2026-11-25T04:30:00-05:30", 1_795_564_800_000 + 10 * HOUR),
    ],
)
def test_accepted_time_forms(text: str, expected: int) -> None:
    """RFC 3339, a bare date (midnight UTC), now and now shifted by s/m/h/d/w."""
    assert parse_time_ms(text, NOW) == expected


def test_the_fixed_clock_and_a_date_are_what_they_say() -> None:
    """The table's constants: NOW and 2026-11-25 midnight UTC."""
    assert format_rfc3339_ms(NOW) == "2026-11-18T11:06:40Z"
    assert format_rfc3339_ms(1_795_564_800_000) == "2026-11-25T00:00:00Z"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", f"'yesterday' is not a time: use {TIME_FORMS}"),
        ("1h", f"'1h' is not a time: use {TIME_FORMS}"),
        ("now-1.5h", f"'now-1.5h' is not a time: use {TIME_FORMS}"),
        ("-1y", f"'-1y' is not a time: use {TIME_FORMS}"),
        ("20261125", f"'20261125' is not a time: use {TIME_FORMS}"),
        ("", f"'' is not a time: use {TIME_FORMS}"),
        (
            "2026-11-25T10:00:00",
            "'2026-11-25T10:00:00' has no UTC offset: add Z (UTC) or +HH:MM",
        ),
        ("2026-13-01", "'2026-13-01' is not a valid date or time (month must be in 1..12)"),
        (
            "2026-02-30",
            "'2026-02-30' is not a valid date or time (day is out of range for month)",
        ),
        (
            "2026-11-25T25:00:00Z",
            "'2026-11-25T25:00:00Z' is not a valid date or time (hour must be in 0..23)",
        ),
    ],
)
def test_refused_time_forms(text: str, message: str) -> None:
    """Anything else is refused with a message that lists the accepted forms."""
    with pytest.raises(ValueError) as info:
        parse_time_ms(text, NOW)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("argv", "field", "expected"),
    [
        (["audit", "champion", "churn", "--at", "-1h"], "at", "2026-11-18T10:06:40Z"),
        (["audit", "champion", "churn", "--at=now-1h"], "at", "2026-11-18T10:06:40Z"),
        (["audit", "champion", "churn", "--at", "now"], "at", "2026-11-18T11:06:40Z"),
        (["audit", "champion", "churn", "--at", "2026-11-25"], "at", "2026-11-25T00:00:00Z"),
        (["replay", "--since", "-2d"], "since", "2026-11-16T11:06:40Z"),
        (["replay", "--until", "-30m"], "until", "2026-11-18T10:36:40Z"),
        (
            ["replay", "--since", "2026-11-25T11:00:00+01:00"],
            "since",
            "2026-11-25T10:00:00Z",
        ),
    ],
)
def test_every_time_flag_takes_the_same_forms(argv: list[str], field: str, expected: str) -> None:
    """--at, --since and --until parse alike (`-1h` after the flag too) into RFC 3339 UTC."""
    args = build_parser(now_ms=lambda: NOW).parse_args(join_time_values(argv))
    assert getattr(args, field) == expected


def test_only_time_flags_get_their_negative_value_joined() -> None:
    """`--at -1h` becomes `--at=-1h`; other arguments are left as they are."""
    assert join_time_values(["--at", "-1h", "--since", "-2d", "-x", "-1h", "--at"]) == [
        "--at=-1h",
        "--since=-2d",
        "-x",
        "-1h",
        "--at",
    ]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["--broker", "b:1", "--topics=t", "topics", "apply"],
            ["topics", "apply", "--broker", "b:1", "--topics=t"],
        ),
        (["--debug", "--broker", "b:1", "replay"], ["replay", "--debug", "--broker", "b:1"]),
        (["replay", "--since", "-1h"], ["replay", "--since=-1h"]),
        (["--broker"], ["--broker"]),
    ],
)
def test_shared_flags_before_the_verb_go_after_it(argv: list[str], expected: list[str]) -> None:
    """`orchestrator --broker B VERB` is read as `orchestrator VERB --broker B`."""
    assert normalize(argv) == expected
