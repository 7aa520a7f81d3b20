"""Replay checks `models.log` against what it was built from: the router's entries for
`models.updates` and `commands`, and the fan-out's notices of data decisions. A dropped, forged,
changed or reordered entry is reported; a repeated one (at-least-once) is only counted."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from orchestrator.replay import LogEntry
from orchestrator.replay.modellog import check_log
from tests.unit.replay_support import expected, written

ROOT = Path(__file__).resolve().parents[2]
LOG = "models.log"


def first_update(entries: list[LogEntry]) -> int:
    return next(
        i
        for i, e in enumerate(entries)
        if orjson.loads(e.value or b"").get("event", {}).get("type") == "model.update"
    )


def problems(entries: list[LogEntry]) -> list[tuple[str, str]]:
    return [
        (s["status"], s["subject"]) for s in check_log(expected(), written(entries), LOG).subjects
    ]


def test_the_log_as_derived_passes() -> None:
    """The log the worker writes is exactly the derived one: every entry matches."""
    want = expected()
    checked = check_log(want, written(want), LOG)
    assert checked.subjects == []
    assert checked.counts["match"] == checked.counts["entries"] == len(want)


def test_a_dropped_entry_is_missing() -> None:
    want = expected()
    for i in (0, len(want) - 1):  # a routed update, a data notice
        found = problems(want[:i] + want[i + 1 :])
        assert [status for status, _ in found] == ["missing"], found


def test_a_forged_notice_is_extra() -> None:
    """A data notice nobody derived (a promote for a window the gate never decided) is extra."""
    want = expected()
    notice = orjson.loads(want[-1].value or b"")
    forged = {**notice, "outcome": "promote", "decision_id": "sha256:" + "f" * 64}
    found = problems([*want, LogEntry(want[-1].key, orjson.dumps(forged))])
    assert [status for status, _ in found] == ["extra"]
    assert found[0][1].endswith("f" * 64)


def test_a_changed_entry_is_a_mismatch_with_its_fields() -> None:
    """An update whose metrics were changed after routing: same source, other content."""
    want = expected()
    i = first_update(want)
    entry = orjson.loads(want[i].value or b"")
    entry["event"]["metrics"]["auc"] = 0.99
    changed = [*want[:i], LogEntry(want[i].key, orjson.dumps(entry)), *want[i + 1 :]]
    checked = check_log(want, written(changed), LOG)
    assert [s["status"] for s in checked.subjects] == ["mismatch"]
    assert set(checked.subjects[0]["diff"]) == {"event"}


def test_entries_out_of_their_source_order_are_reported() -> None:
    """The router reads each source partition in order: v1 after v2 cannot come from it."""
    want = expected()
    i = first_update(want)
    assert orjson.loads(want[i].value or b"")["event"]["version"] == "v0"
    swapped = [*want[:i], want[i + 1], want[i], *want[i + 2 :]]
    found = problems(swapped)
    assert [status for status, _ in found] == ["mismatch"]
    assert "models.updates:0@0" in found[0][1]


@pytest.mark.parametrize("garbage", [b"{not json", b'{"kind": "event"}', b"[]"])
def test_a_record_that_is_no_entry_is_extra(garbage: bytes) -> None:
    want = expected()
    found = problems([*want, LogEntry(b"churn", garbage)])
    assert [status for status, _ in found] == ["extra"]


def test_repeated_entries_are_counted_not_failed() -> None:
    """At-least-once: after a restart the router writes some entries again."""
    want = expected()
    again = want[:3] + want[1:]
    checked = check_log(want, written(again), LOG)
    assert checked.subjects == []
    assert checked.counts["duplicates"] == 2


def test_a_repeat_with_other_content_is_a_mismatch_against_the_derived_entry() -> None:
    want = expected()
    i = first_update(want)
    entry = orjson.loads(want[i].value or b"")
    entry["event"]["metrics"]["auc"] = 0.11
    again = [*want, LogEntry(want[i].key, orjson.dumps(entry))]
    (problem,) = check_log(want, written(again), LOG).subjects
    assert problem["status"] == "mismatch"
    assert problem["diff"]["repeat"] == {
        "recorded": entry,
        "replayed": orjson.loads(want[i].value or b""),
    }
