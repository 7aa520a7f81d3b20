"""What DatasetWindows returns, field by field: accepted, duplicate and refused arrivals, the
dlq messages of its bounds, drops at exactly end + L, and the state it writes and restores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from orchestrator.contracts import decode
from orchestrator.core.datagate import DataGate, DataGateSpec
from orchestrator.core.decision import GateInfo
from orchestrator.core.effects import (
    Accepted,
    Decided,
    Duplicate,
    Effect,
    Rejected,
    StatePut,
    WatermarkAdvanced,
    WindowDropped,
)
from orchestrator.core.engine import EventTimeEngine
from orchestrator.core.policy import DatasetSpec
from orchestrator.core.position import POSITION_KEY
from orchestrator.core.timeutil import parse_rfc3339_ms
from orchestrator.core.windows import INT64_MAX
from orchestrator.errors import (
    E_DUPLICATE_CONFLICT,
    E_FUTURE_EVENT,
    E_OVERFLOW,
    E_WINDOW_LIMIT,
    InvariantViolation,
)
from tests import factories
from tests.scenario import changelog

H = 3_600_000
M = 60_000
SPEC = DatasetSpec("clicks", window_ms=H, out_of_orderness_ms=0, allowed_lateness_ms=30 * M)
W10 = "clicks/2026-11-23T10:00:00Z/PT1H"
AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def ev(obj: dict[str, Any]) -> Any:
    return decode(orjson.dumps(obj))


def at(t: str) -> int:
    return parse_rfc3339_ms(f"2026-11-23T{t}Z")


GATE = DataGateSpec(gate=GateInfo("dataset/clicks", 1, "sha256:policy"))
GATES = {"clicks": lambda: DataGate(GATE, "data.arrivals", "t")}


def json_state(state: dict[str, Any]) -> dict[str, Any]:
    """State as the changelog stores it (JSON), without the input position."""
    return {k: v for k, v in orjson.loads(orjson.dumps(state)).items() if k != POSITION_KEY}


# -- accepted and duplicate arrivals ---------------------------------------------------------


def test_accepted_arrival_names_dataset_event_and_window() -> None:
    """An accepted arrival is reported as Accepted(dataset, event_id, window_id)."""
    effects = EventTimeEngine({"clicks": SPEC}).handle(ev(factories.arrival("a")), 0, 0)
    assert effects[0] == Accepted("clicks", "a", W10)


def test_duplicate_names_the_window_that_holds_the_first_copy() -> None:
    """The same event_id with the same content is Duplicate(dataset, event_id, its window)."""
    engine = EventTimeEngine({"clicks": SPEC})
    engine.handle(ev(factories.arrival("a")), 0, 0)
    assert engine.handle(ev(factories.arrival("a")), 0, 1) == [Duplicate("clicks", "a", W10)]


def test_conflicting_duplicate_is_refused_naming_the_event_and_its_window() -> None:
    """The same event_id with other content goes to the dlq as E_DUPLICATE_CONFLICT."""
    engine = EventTimeEngine({"clicks": SPEC})
    engine.handle(ev(factories.arrival("a", record_count=10)), 0, 0)
    (refused,) = engine.handle(ev(factories.arrival("a", record_count=11)), 0, 1)
    assert isinstance(refused, Rejected)
    assert (refused.dataset, refused.event_id, refused.code) == (
        "clicks",
        "a",
        E_DUPLICATE_CONFLICT,
    )
    assert f"already accepted into {W10} with different content" in refused.message


# -- max_future_skew: the dlq record ---------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (factories.arrival("f", event_time="2026-11-23T11:00:00.001Z"), "event_time"),
        (factories.watermark("f", watermark="2026-11-23T11:00:00.001Z"), "watermark"),
    ],
)
def test_future_event_is_refused_with_the_field_and_how_far_ahead(
    event: dict[str, Any], field: str
) -> None:
    """One ms past the 1 h skew: the dlq record names dataset, event, field and the distance."""
    effects = EventTimeEngine({"clicks": SPEC}).handle(ev(event), 0, 0, timestamp_ms=at("10:00:00"))
    assert effects == [
        Rejected(
            "clicks",
            "f",
            E_FUTURE_EVENT,
            f"field '{field}': 2026-11-23T11:00:00.001000+00:00 is 3600001 ms ahead of the "
            "record's broker timestamp 2026-11-23T10:00:00+00:00; "
            "max_future_skew of clicks is 3600000 ms",
        )
    ]


# -- max_open_windows: the dlq record --------------------------------------------------------


@pytest.mark.parametrize(
    ("out_of_orderness_ms", "required", "watermark_text"),
    [
        (0, {"eu", "us"}, "not set yet"),  # a silent required source: minus infinity
        (2**61, set(), "not set yet"),  # exactly -2^61 ms: the bound of "not set"
        (1000, set(), "1969-12-31T23:59:59+00:00"),  # a set watermark, below the epoch
        (0, set(), "1970-01-01T00:00:00+00:00"),
        # a watermark no date can show (out_of_orderness of a million days): its milliseconds
        (86_400_000 * 10**6, set(), "-86400000000000 ms since the epoch"),
    ],
    ids=["silent-source", "at-minus-2^61", "before-epoch", "at-epoch", "before-year-1"],
)
def test_window_limit_refusal_states_the_watermark(
    out_of_orderness_ms: int, required: set[str], watermark_text: str
) -> None:
    """At max_open_windows an arrival opening another window is refused; the message gives the
    dataset watermark (event at the epoch minus B), or "not set yet" at or below -2^61 ms."""
    spec = DatasetSpec(
        "clicks",
        window_ms=H,
        out_of_orderness_ms=out_of_orderness_ms,
        allowed_lateness_ms=0,
        required_sources=frozenset(required),
        max_open_windows=1,
    )
    engine = EventTimeEngine({"clicks": spec})
    engine.handle(ev(factories.arrival("a", event_time="1970-01-01T00:00:00Z")), 0, 0)
    effects = engine.handle(ev(factories.arrival("b", event_time="1970-01-01T01:00:00Z")), 0, 1)
    assert effects == [
        Rejected(
            "clicks",
            "b",
            E_WINDOW_LIMIT,
            "dataset clicks already holds 1 open windows (max_open_windows); its watermark is "
            f"{watermark_text}: a required source may be silent. Send the event again once the "
            "watermark has moved on.",
        )
    ]


# -- 64-bit record totals --------------------------------------------------------------------


def test_record_total_may_reach_exactly_int64_max() -> None:
    """A window total of exactly 2^63-1 is accepted."""
    engine = EventTimeEngine({"clicks": SPEC})
    engine.handle(ev(factories.arrival("a", record_count=INT64_MAX - 10)), 0, 0)
    effects = engine.handle(ev(factories.arrival("b", record_count=10)), 0, 1)
    assert effects[0] == Accepted("clicks", "b", W10)


def test_record_total_past_int64_max_is_refused_with_both_addends() -> None:
    """One record more than 2^63-1 goes to the dlq as E_OVERFLOW, naming total and count."""
    engine = EventTimeEngine({"clicks": SPEC})
    engine.handle(ev(factories.arrival("a", record_count=INT64_MAX - 10)), 0, 0)
    effects = engine.handle(ev(factories.arrival("b", record_count=11)), 0, 1)
    assert effects == [
        Rejected(
            "clicks",
            "b",
            E_OVERFLOW,
            f"field 'record_count': the record total of {W10} would exceed 2^63-1 "
            f"({INT64_MAX - 10} + 11)",
        )
    ]


# -- watermark and drops ---------------------------------------------------------------------


def test_watermark_advance_names_the_dataset() -> None:
    """A watermark that moves WM(D) is reported as WatermarkAdvanced(dataset, ms)."""
    effects = EventTimeEngine({"clicks": SPEC}).handle(
        ev(factories.watermark("w", watermark="2026-11-23T10:30:00Z")), 0, 0
    )
    assert WatermarkAdvanced("clicks", at("10:30:00")) in effects


@pytest.mark.parametrize(("watermark", "dropped"), [("11:29:59.999", False), ("11:30:00", True)])
def test_window_is_dropped_at_exactly_end_plus_lateness(watermark: str, dropped: bool) -> None:
    """WM = end + L drops the window (WindowDropped(dataset, window_id)); a ms before keeps it."""
    engine = EventTimeEngine({"clicks": SPEC})
    engine.handle(ev(factories.arrival("a")), 0, 0)
    engine.handle(ev(factories.watermark("w1", watermark="2026-11-23T11:00:00Z")), 0, 1)
    effects = engine.handle(
        ev(factories.watermark("w2", watermark=f"2026-11-23T{watermark}Z")), 0, 2
    )
    assert [e for e in effects if isinstance(e, WindowDropped)] == (
        [WindowDropped("clicks", W10)] if dropped else []
    )


# -- state: the changelog, snapshots and restore ---------------------------------------------


def run_gated() -> tuple[EventTimeEngine, list[list[Effect]]]:
    """A window decided by the gate (revision 1), then a late arrival (revision 2)."""
    engine = EventTimeEngine({"clicks": SPEC}, GATES)
    events = [
        factories.arrival("a"),
        factories.arrival("b", source="us", event_time="2026-11-23T10:20:00Z"),
        factories.watermark("w", watermark="2026-11-23T11:00:00Z"),
        factories.arrival("late", event_time="2026-11-23T10:40:00Z"),
    ]
    out = [engine.handle(ev(e), 0, i, AT) for i, e in enumerate(events)]
    assert sum(isinstance(e, Decided) for batch in out for e in batch) == 2
    return engine, out


def test_changelog_effects_hold_exactly_what_snapshot_reports() -> None:
    """Folding the StatePut/StateDelete effects gives the snapshot, gate state included."""
    engine, out = run_gated()
    assert dict(changelog(out)) == json_state(engine.snapshot())


def test_restore_from_the_changelog_gives_back_the_same_state() -> None:
    """An engine restored from its changelog holds the same windows and gate state."""
    engine, out = run_gated()
    restored = EventTimeEngine.restore({"clicks": SPEC}, changelog(out), GATES)
    assert json_state(restored.snapshot()) == json_state(engine.snapshot())
    assert restored.datasets["clicks"].gate.promoted == engine.datasets["clicks"].gate.promoted  # type: ignore[union-attr]


def test_gate_state_without_a_gate_is_ignored_on_restore() -> None:
    """A gate entry for a dataset that no longer has a gate lapses instead of failing."""
    _, out = run_gated()
    restored = EventTimeEngine.restore({"clicks": SPEC}, changelog(out))
    assert restored.datasets["clicks"].gate is None
    assert set(restored.datasets["clicks"].windows) == {at("10:00:00")}


def test_restore_forgets_a_window_at_exactly_end_plus_lateness_without_its_tombstones() -> None:
    """Tombstones may reach the changelog after the watermark that made them: a window whose
    end + L the restored watermark reaches exactly is forgotten, with its dedupe entries."""
    engine = EventTimeEngine({"clicks": SPEC})
    events = [
        factories.arrival("a"),
        factories.watermark("w1", watermark="2026-11-23T11:00:00Z"),
        factories.watermark("w2", watermark="2026-11-23T11:30:00Z"),
    ]
    out = [engine.handle(ev(e), 0, i) for i, e in enumerate(events)]
    puts_only: list[list[Effect]] = [[e for e in b if isinstance(e, StatePut)] for b in out]
    restored = EventTimeEngine.restore({"clicks": SPEC}, changelog(puts_only))
    windows = restored.datasets["clicks"]
    assert (windows.windows, windows.index) == ({}, {})


def test_unknown_state_kind_crashes_naming_the_kind() -> None:
    """A changelog entry of an unknown kind is our bug: InvariantViolation names the kind."""
    with pytest.raises(InvariantViolation, match="unknown state kind 'x'"):
        EventTimeEngine.restore({"clicks": SPEC}, [("clicks\x1fx\x1f1", 0)])
