"""`produce` line validation: every invalid line is reported with its number, field and reason."""

import orjson

from orchestrator.produce import parse_lines
from tests import factories


def test_parse_lines_reports_each_invalid_line() -> None:
    """Valid lines are kept in order; each invalid one names line, code and field."""
    lines = [
        orjson.dumps(factories.arrival("a1")),
        b"",
        b"{oops",
        orjson.dumps({**factories.arrival("a2"), "record_count": -5}),
        orjson.dumps(factories.model_update()),
        orjson.dumps({**factories.watermark(), "type": "data.bogus"}),
    ]
    parsed = parse_lines(lines)
    assert [n for n, _ in parsed.events] == [1, 5]
    assert [(e.line, e.code) for e in parsed.errors] == [
        (3, "E_DECODE"),
        (4, "E_SCHEMA"),
        (6, "E_UNKNOWN_TYPE"),
    ]
    assert "record_count" in parsed.errors[1].message


def test_an_oversize_line_is_too_large_like_any_bad_line() -> None:
    """A line over the 1 MiB payload limit is reported as E_TOO_LARGE with its size, and the
    lines around it are still validated."""
    big = orjson.dumps({**factories.arrival("big"), "uri": "s3://" + "x" * (1024 * 1024)})
    parsed = parse_lines(
        [orjson.dumps(factories.arrival("a1")), big, orjson.dumps(factories.arrival("a3"))]
    )
    assert [n for n, _ in parsed.events] == [1, 3]
    assert [(e.line, e.code) for e in parsed.errors] == [(2, "E_TOO_LARGE")]
    assert str(len(big)) in parsed.errors[0].message
