"""The event-time engine's input position and its snapshot, at the unit tier."""

from __future__ import annotations

import orjson

from orchestrator.contracts import decode
from orchestrator.core.effects import StatePut, WindowFired
from orchestrator.core.engine import EventTimeEngine
from orchestrator.core.policy import DatasetSpec
from orchestrator.core.position import POSITION_KEY
from tests import factories

SPEC = DatasetSpec(
    "clicks", window_ms=3_600_000, out_of_orderness_ms=0, allowed_lateness_ms=1_800_000
)


def ev(obj: dict[str, object]) -> object:
    return decode(orjson.dumps(obj))


def test_position_is_the_next_offset_after_handle_or_skip() -> None:
    engine = EventTimeEngine({"clicks": SPEC})
    assert engine.position == 0
    engine.handle(ev(factories.arrival("a")), 0, 7)  # type: ignore[arg-type]
    assert engine.position == 8 and engine.position_entry() == StatePut(POSITION_KEY, 8)
    engine.skip(20)  # an offset that carried nothing for the core
    assert engine.position == 21
    engine.handle(ev(factories.arrival("x", dataset="unknown")), 0, 21)  # type: ignore[arg-type]
    assert engine.position == 22  # refused input moves it too


def test_snapshot_round_trip_keeps_position_and_decides_alike() -> None:
    """restore(snapshot()) holds the same entries (position included) and fires identically."""
    engine = EventTimeEngine({"clicks": SPEC})
    for i, obj in enumerate(
        [
            factories.arrival("a", event_time="2026-11-23T10:05:00Z"),
            factories.arrival("b", source="us", event_time="2026-11-23T10:30:00Z"),
            factories.watermark("w", watermark="2026-11-23T11:00:00Z"),
        ]
    ):
        engine.handle(ev(obj), 0, i)  # type: ignore[arg-type]
    snap = orjson.loads(orjson.dumps(engine.snapshot()))
    again = EventTimeEngine.restore({"clicks": SPEC}, snap.items())
    assert again.snapshot() == snap and again.position == 3
    late = ev(factories.arrival("c", event_time="2026-11-23T10:45:00Z"))
    a = [e.manifest for e in engine.handle(late, 0, 3) if isinstance(e, WindowFired)]  # type: ignore[arg-type]
    b = [e.manifest for e in again.handle(late, 0, 3) if isinstance(e, WindowFired)]  # type: ignore[arg-type]
    assert a == b and a[0].revision == 2 and a[0].supersedes_revision == 1
