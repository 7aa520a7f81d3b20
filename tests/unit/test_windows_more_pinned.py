"""DatasetWindows at its bounds, field by field: max_window_bytes at exactly an arrival's
weight (alone and in a window), the dlq record and changelog entry of a full window, the
weight a restored window carries on, the dlq record of max_sources, and the trigger of a
watermark handled without a log position."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from orchestrator.contracts import decode
from orchestrator.contracts.records import SourceOffset
from orchestrator.core.datagate import DataGate, DataGateSpec
from orchestrator.core.decision import GateInfo
from orchestrator.core.effects import Accepted, Decided, Effect, Rejected, StatePut
from orchestrator.core.engine import EventTimeEngine
from orchestrator.core.openwindow import arrival_digest
from orchestrator.core.policy import DatasetSpec
from orchestrator.core.timeutil import parse_rfc3339_ms
from orchestrator.core.windows import DatasetWindows
from orchestrator.errors import E_SOURCE_LIMIT, E_WINDOW_FULL
from tests import factories
from tests.scenario import changelog

H = 3_600_000
W10 = "clicks/2026-11-23T10:00:00Z/PT1H"
START = parse_rfc3339_ms("2026-11-23T10:00:00Z")
TOPIC = "data.arrivals"
AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def ev(obj: dict[str, Any]) -> Any:
    return decode(orjson.dumps(obj))


def arrival(event_id: str) -> dict[str, Any]:
    """Arrivals of equal weight (ids of equal length), with a fingerprint, all in hour 10."""
    return factories.arrival(event_id, schema_fingerprint="sha256:fp")


def weight_of(event_id: str, gated: bool) -> int:
    """What `arrival(event_id)` weighs: its strings as JSON (id, checksum and fingerprint
    twice, source and uri once), its content digest, and 200 bytes of keys, numbers and
    separators, plus the arrivals topic its decision offset names when the dataset is gated."""
    a = arrival(event_id)
    twice = [a["event_id"], a["checksum"], a["schema_fingerprint"]]
    strings = sum(2 * len(orjson.dumps(s)) for s in twice)
    strings += len(orjson.dumps(a["source"])) + len(orjson.dumps(a["uri"]))
    return strings + len(arrival_digest(ev(a))) + 200 + (len(TOPIC) if gated else 0)


def gates(gated: bool) -> dict[str, Any]:
    if not gated:
        return {}
    return {"clicks": lambda: DataGate(DataGateSpec(GateInfo("g", 1, "d")), TOPIC, "1")}


def spec(**bounds: int) -> DatasetSpec:
    return DatasetSpec(
        "clicks", window_ms=H, out_of_orderness_ms=0, allowed_lateness_ms=0, **bounds
    )


def full_refusal(event_id: str, held: int, weight: int, limit: int) -> Rejected:
    return Rejected(
        "clicks",
        event_id,
        E_WINDOW_FULL,
        f"window {W10} already holds {held} arrivals of ~{weight} bytes (max_window_arrivals "
        f"10000, max_window_bytes {limit}): refused; the window's data gate rejects it as "
        "incomplete (E_WINDOW_FULL)",
    )


# -- max_window_bytes --------------------------------------------------------------------------


@pytest.mark.parametrize("gated", [False, True], ids=["ungated", "gated"])
def test_an_arrival_weighing_exactly_max_window_bytes_opens_its_window(gated: bool) -> None:
    """max_window_bytes equal to the arrival's weight: it is accepted and its window holds
    exactly that weight (the bound is inclusive, the weight not a byte more)."""
    w = weight_of("a1", gated)
    engine = EventTimeEngine({"clicks": spec(max_window_bytes=w)}, gates(gated))
    effects = engine.handle(ev(arrival("a1")), 0, 0)
    assert effects[0] == Accepted("clicks", "a1", W10)
    assert engine.datasets["clicks"].windows[START].weight == w


@pytest.mark.parametrize("gated", [False, True], ids=["ungated", "gated"])
def test_an_arrival_heavier_than_max_window_bytes_alone_is_refused_opening_nothing(
    gated: bool,
) -> None:
    """One byte over on an empty window: E_WINDOW_FULL naming the weight and the bound; no
    window is opened and nothing is written to the changelog."""
    w = weight_of("a1", gated)
    engine = EventTimeEngine({"clicks": spec(max_window_bytes=w - 1)}, gates(gated))
    effects = engine.handle(ev(arrival("a1")), 0, 0)
    assert effects == [
        Rejected(
            "clicks",
            "a1",
            E_WINDOW_FULL,
            f"the arrival alone would weigh ~{w} bytes in its window's manifest "
            f"(max_window_bytes {w - 1})",
        )
    ]
    windows = engine.datasets["clicks"]
    assert (windows.windows, windows.index) == ({}, {})


@pytest.mark.parametrize("gated", [False, True], ids=["ungated", "gated"])
def test_a_window_fills_up_to_exactly_max_window_bytes_then_refuses(gated: bool) -> None:
    """max_window_bytes of two arrivals: the second reaches the bound exactly and is accepted;
    the third is refused (E_WINDOW_FULL, naming window, count, weight and both bounds) and
    the window's changelog entry now counts one refusal."""
    w = weight_of("a1", gated)
    engine = EventTimeEngine({"clicks": spec(max_window_bytes=2 * w)}, gates(gated))
    first, second = (engine.handle(ev(arrival(e)), 0, i) for i, e in enumerate(["a1", "a2"]))
    assert (first[0], second[0]) == (Accepted("clicks", "a1", W10), Accepted("clicks", "a2", W10))
    assert engine.handle(ev(arrival("a3")), 0, 2) == [
        full_refusal("a3", 2, 2 * w, 2 * w),
        StatePut(f"clicks\x1fw\x1f{START}", {"r": 0, "d": None, "x": 1}),
    ]
    assert engine.handle(ev(arrival("a4")), 0, 3)[1] == StatePut(
        f"clicks\x1fw\x1f{START}", {"r": 0, "d": None, "x": 2}
    )


def test_a_restored_window_weighs_what_its_arrivals_weigh() -> None:
    """Restored from the changelog, a window carries the summed weight of all its arrivals:
    it refuses the next arrival with the same dlq record as the engine that never stopped."""
    w = weight_of("a1", False)
    s = spec(max_window_bytes=2 * w)
    engine = EventTimeEngine({"clicks": s})
    out = [engine.handle(ev(arrival(e)), 0, i) for i, e in enumerate(["a1", "a2"])]
    restored = EventTimeEngine.restore({"clicks": s}, changelog(out))
    assert restored.datasets["clicks"].windows[START].weight == 2 * w
    for e in (engine, restored):
        assert e.handle(ev(arrival("a3")), 0, 2)[0] == full_refusal("a3", 2, 2 * w, 2 * w)


# -- max_sources -------------------------------------------------------------------------------


def limited() -> EventTimeEngine:
    engine = EventTimeEngine({"clicks": spec(max_sources=2)})
    for i, s in enumerate(["eu", "us"]):
        engine.handle(ev(factories.arrival(f"a{s}", source=s)), 0, i)
    return engine


@pytest.mark.parametrize(
    "event",
    [factories.arrival("third", source="x" * 200), factories.watermark("third", source="x" * 200)],
    ids=["arrival", "watermark"],
)
def test_a_source_beyond_max_sources_is_refused_naming_dataset_event_and_source(
    event: dict[str, Any],
) -> None:
    """A third source (its name of the largest length, 200) when max_sources is 2: the dlq
    record names the dataset, the refused event, the count and bound, and the source."""
    assert limited().handle(ev(event), 0, 2) == [
        Rejected(
            "clicks",
            "third",
            E_SOURCE_LIMIT,
            "field 'source': dataset clicks already has 2 sources (max_sources 2); "
            f"{'x' * 200!r} would be one more",
        )
    ]


# -- a watermark without a log position -------------------------------------------------------


def test_a_watermark_handled_without_a_position_triggers_from_partition_0_offset_0() -> None:
    """DatasetWindows.handle_watermark called without partition and offset: the decision it
    causes names offset 0 of partition 0 of the arrivals topic as its trigger."""
    windows = DatasetWindows(spec(), DataGate(DataGateSpec(GateInfo("g", 1, "d")), TOPIC, "1"))
    windows.handle_arrival(ev(arrival("a1")), 4, 9)
    effects: list[Effect] = windows.handle_watermark(ev(factories.watermark("w")), decided_at=AT)
    (decision,) = [e.decision for e in effects if isinstance(e, Decided)]
    assert decision.trigger == SourceOffset(topic=TOPIC, partition=0, offset=0)
    assert [(o.partition, o.offset) for o in decision.inputs.offsets] == [(4, 9)]
