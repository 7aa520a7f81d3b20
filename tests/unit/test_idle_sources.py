"""Idle-source watermarks: wall clock enters only as data.watermark events (SPEC §3)."""

from __future__ import annotations

import orjson

from orchestrator.contracts import decode, encode
from orchestrator.core.access import verify
from orchestrator.core.effects import Accepted, WindowFired
from orchestrator.core.engine import EventTimeEngine
from orchestrator.core.idle import idle_watermarks
from orchestrator.core.policy import DatasetSpec
from orchestrator.core.timeutil import parse_rfc3339_ms
from tests import factories

SPEC = DatasetSpec(
    "clicks",
    window_ms=3_600_000,
    out_of_orderness_ms=300_000,
    allowed_lateness_ms=0,
    required_sources=frozenset({"eu", "us"}),
    idle_timeout_ms=600_000,
)
KEY = b"example-worker-key-tests-only"
QUIET = DatasetSpec("views", window_ms=60_000, out_of_orderness_ms=0, allowed_lateness_ms=0)


def test_no_watermark_before_the_timeout() -> None:
    """A dataset seen 9 minutes ago with a 10-minute idle timeout gets nothing."""
    assert idle_watermarks({"clicks": SPEC}, {"clicks": 1000.0}, 1000.0 + 540, KEY) == []


def test_watermark_after_the_timeout_and_only_with_a_timeout() -> None:
    """After the timeout an `orchestrator` watermark at now - B is due; datasets without one get none."""
    now = parse_rfc3339_ms("2026-11-23T12:00:00Z") / 1000
    out = idle_watermarks(
        {"clicks": SPEC, "views": QUIET}, {"clicks": now - 600, "views": now - 9999}, now, KEY
    )
    assert len(out) == 1
    wm = out[0]
    assert (wm.dataset, wm.source) == ("clicks", "orchestrator")
    assert wm.watermark.isoformat() == "2026-11-23T11:55:00+00:00"
    assert wm.event_id.startswith("idle:clicks:")
    assert verify(wm, KEY) and not verify(wm, b"another key")  # signed by the worker


def test_idle_watermark_event_fires_a_window_held_by_a_silent_source() -> None:
    """Fed back through the log, the idle watermark closes the window a silent required source held."""
    engine = EventTimeEngine({"clicks": SPEC}, worker_key=KEY)
    arrival = decode(
        orjson.dumps(factories.arrival("e1", source="eu", event_time="2026-11-23T10:10:00Z"))
    )
    accepted = engine.handle(arrival, 0, 0)  # type: ignore[arg-type]
    assert [type(e).__name__ for e in accepted if isinstance(e, Accepted | WindowFired)] == [
        "Accepted"
    ]  # held: the silent required source keeps the watermark at minus infinity
    now = parse_rfc3339_ms("2026-11-23T12:00:00Z") / 1000
    (wm,) = idle_watermarks({"clicks": SPEC}, {"clicks": now - 601}, now, KEY)
    effects = engine.handle(decode(encode(wm)), 0, 1)  # type: ignore[arg-type]
    assert [e.manifest.window_id for e in effects if isinstance(e, WindowFired)] == [
        "clicks/2026-11-23T10:00:00Z/PT1H"
    ]
