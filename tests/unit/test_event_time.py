"""The event-time core, table-driven (SPEC §3): one scenario per rule."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from orchestrator.contracts import decode
from orchestrator.core.access import signed
from orchestrator.core.effects import (
    Accepted,
    Duplicate,
    Effect,
    Rejected,
    TooLate,
    WindowDropped,
    WindowFired,
)
from orchestrator.core.engine import EventTimeEngine
from orchestrator.core.policy import DatasetSpec
from orchestrator.core.timeutil import parse_rfc3339_ms
from tests import factories
from tests.scenario import changelog

H = 3_600_000
M = 60_000
CLICKS = DatasetSpec("clicks", window_ms=H, out_of_orderness_ms=5 * M, allowed_lateness_ms=30 * M)
VIEWS = DatasetSpec("views", window_ms=15 * M, out_of_orderness_ms=0, allowed_lateness_ms=0)
REQUIRED = DatasetSpec(
    "clicks",
    window_ms=H,
    out_of_orderness_ms=5 * M,
    allowed_lateness_ms=30 * M,
    required_sources=frozenset({"eu", "us"}),
)


def run(
    spec: DatasetSpec | list[DatasetSpec], events: list[dict[str, Any]]
) -> tuple[EventTimeEngine, list[list[Effect]]]:
    specs = spec if isinstance(spec, list) else [spec]
    engine = EventTimeEngine({s.name: s for s in specs})
    out = [engine.handle(decode(orjson.dumps(e)), 0, i) for i, e in enumerate(events)]  # type: ignore[arg-type]
    return engine, out


def fired(effects: list[Effect]) -> list[tuple[str, int, list[str]]]:
    return [
        (e.manifest.window_id, e.manifest.revision, [a.event_id for a in e.manifest.arrivals])
        for e in effects
        if isinstance(e, WindowFired)
    ]


def kinds(effects: list[Effect]) -> list[str]:
    return [
        type(e).__name__
        for e in effects
        if isinstance(e, Accepted | Duplicate | TooLate | Rejected)
    ]


def a(eid: str, t: str, source: str = "eu", dataset: str = "clicks", n: int = 10) -> dict[str, Any]:
    return factories.arrival(
        eid, dataset=dataset, source=source, event_time=f"2026-11-23T{t}Z", record_count=n
    )


def wm(eid: str, t: str, source: str = "eu", dataset: str = "clicks") -> dict[str, Any]:
    return factories.watermark(eid, dataset=dataset, source=source, watermark=f"2026-11-23T{t}Z")


W10 = "clicks/2026-11-23T10:00:00Z/PT1H"
W11 = "clicks/2026-11-23T11:00:00Z/PT1H"


def test_in_order_fires_when_watermark_passes_end() -> None:
    """A window fires (revision 1) once WM = max(event_time) - B reaches its end."""
    _, out = run(
        CLICKS, [a("e1", "10:10:00"), a("e2", "10:50:00"), a("e3", "11:04:59"), a("e4", "11:05:00")]
    )
    assert [fired(x) for x in out] == [[], [], [], [(W10, 1, ["e1", "e2"])]]
    manifest = next(e for e in out[3] if isinstance(e, WindowFired)).manifest
    assert manifest.record_total == 20 and manifest.sources == ["eu"] and manifest.revision == 1
    assert manifest.watermark.isoformat() == "2026-11-23T11:00:00+00:00"


def test_out_of_order_within_bound_joins_window() -> None:
    """An arrival older than the newest one, but within B, is accepted into the still-open window."""
    _, out = run(
        CLICKS, [a("e1", "10:58:00"), a("e2", "11:03:00"), a("e3", "10:20:00"), a("e4", "11:06:00")]
    )
    assert kinds(out[2]) == ["Accepted"]
    assert fired(out[3]) == [(W10, 1, ["e1", "e3"])]


def test_late_within_lateness_fires_revision_two() -> None:
    """An arrival after the window fired but before end + L re-fires it as revision 2 that supersedes 1."""
    _, out = run(CLICKS, [a("e1", "10:10:00"), a("e2", "11:10:00"), a("e3", "10:30:00")])
    assert fired(out[1]) == [(W10, 1, ["e1"])]
    assert fired(out[2]) == [(W10, 2, ["e1", "e3"])]
    manifest = next(e for e in out[2] if isinstance(e, WindowFired)).manifest
    assert manifest.supersedes_revision == 1 and manifest.record_total == 20


def test_too_late_goes_to_late_and_changes_nothing() -> None:
    """At WM >= end + L the window is dropped; a later arrival for it is E_TOO_LATE, judged against WM."""
    engine, out = run(CLICKS, [a("e1", "10:10:00"), a("e2", "11:40:00"), a("e3", "10:59:59")])
    assert [type(e).__name__ for e in out[1] if isinstance(e, WindowFired | WindowDropped)] == [
        "WindowFired",
        "WindowDropped",
    ]
    late = out[2]
    assert len(late) == 1 and isinstance(late[0], TooLate)
    assert late[0].code == "E_TOO_LATE" and late[0].window_id == W10
    assert late[0].watermark_ms == parse_rfc3339_ms("2026-11-23T11:35:00Z")
    assert parse_rfc3339_ms("2026-11-23T10:00:00Z") not in engine.datasets["clicks"].windows


def test_lateness_boundary_is_exclusive() -> None:
    """WM exactly at end + L is too late; one millisecond before is still allowed."""
    _, out = run(CLICKS, [a("e1", "10:10:00"), a("e2", "11:34:59.999"), a("e3", "10:30:00")])
    assert fired(out[2]) == [(W10, 2, ["e1", "e3"])]
    _, out = run(CLICKS, [a("e1", "10:10:00"), a("e2", "11:35:00"), a("e3", "10:30:00")])
    assert kinds(out[2]) == ["TooLate"]


def test_event_exactly_at_end_belongs_to_next_window() -> None:
    """Windows are [start, end): an event at 11:00:00 opens the 11:00 window."""
    _, out = run(CLICKS, [a("e1", "11:00:00")])
    assert [e.window_id for e in out[0] if isinstance(e, Accepted)] == [W11]


def test_duplicate_same_content_is_ignored() -> None:
    """The same event_id with the same content is counted as a duplicate and changes nothing."""
    _, out = run(CLICKS, [a("e1", "10:10:00"), a("e1", "10:10:00"), a("e2", "11:10:00")])
    assert kinds(out[1]) == ["Duplicate"]
    assert fired(out[2]) == [(W10, 1, ["e1"])]


def test_duplicate_conflict_is_rejected() -> None:
    """The same event_id with different content is not applied: E_DUPLICATE_CONFLICT."""
    _, out = run(CLICKS, [a("e1", "10:10:00", n=1), a("e1", "10:10:00", n=2), a("e2", "11:10:00")])
    assert isinstance(out[1][0], Rejected) and out[1][0].code == "E_DUPLICATE_CONFLICT"
    manifest = next(e for e in out[2] if isinstance(e, WindowFired)).manifest
    assert manifest.record_total == 1


def test_conflict_detected_across_windows() -> None:
    """Dedupe spans every open window of the dataset, not only the arrival's own."""
    _, out = run(CLICKS, [a("e1", "10:10:00"), a("e1", "10:40:00")])
    assert kinds(out[1]) == ["Rejected"]


def test_too_late_is_judged_before_dedupe() -> None:
    """A duplicate of an event whose window is gone is too late, not a duplicate."""
    _, out = run(CLICKS, [a("e1", "10:10:00"), a("e2", "12:00:00"), a("e1", "10:10:00")])
    assert kinds(out[2]) == ["TooLate"]


def test_required_source_missing_holds_watermark() -> None:
    """With R = {eu, us}, nothing fires until us has spoken; then WM = min over R."""
    _, out = run(
        REQUIRED,
        [
            a("e1", "10:10:00", "eu"),
            a("e2", "12:00:00", "eu"),
            a("e3", "10:20:00", "us"),
            a("e4", "11:06:00", "us"),
        ],
    )
    assert fired(out[1]) == [] and fired(out[2]) == []
    assert fired(out[3]) == [(W10, 1, ["e1", "e3"])]


def test_source_outside_required_does_not_move_watermark() -> None:
    """An extra source's arrivals are accepted but do not advance WM when R is set."""
    engine, out = run(
        REQUIRED,
        [a("e1", "10:10:00", "eu"), a("e2", "10:15:00", "us"), a("e3", "13:00:00", "apac")],
    )
    assert kinds(out[2]) == ["Accepted"] and fired(out[2]) == []
    assert engine.datasets["clicks"].watermarks.value == parse_rfc3339_ms("2026-11-23T10:05:00Z")


def test_watermark_events_advance_and_fire() -> None:
    """A data.watermark from a source moves S(D,s) without the B offset, and fires due windows."""
    _, out = run(CLICKS, [a("e1", "10:10:00"), wm("w1", "10:59:59"), wm("w2", "11:00:00")])
    assert fired(out[1]) == [] and fired(out[2]) == [(W10, 1, ["e1"])]


def test_watermark_never_goes_back() -> None:
    """An older watermark assertion does not move S(D,s) backwards."""
    engine, _ = run(CLICKS, [wm("w1", "11:00:00"), wm("w2", "10:00:00")])
    assert engine.datasets["clicks"].watermarks.value == parse_rfc3339_ms("2026-11-23T11:00:00Z")


WORKER_KEY = b"example-worker-key-tests-only"


def test_orchestrator_idle_watermark_speaks_for_required_sources() -> None:
    """The orchestrator's (signed) idle watermark advances WM even when a required source is
    silent: WM(D) = max(min over required sources, S(D, orchestrator))."""
    engine = EventTimeEngine({"clicks": REQUIRED}, worker_key=WORKER_KEY)
    engine.handle(decode(orjson.dumps(a("e1", "10:10:00", "eu"))), 0, 0)  # type: ignore[arg-type]
    idle = signed(decode(orjson.dumps(wm("w1", "11:00:00", source="orchestrator"))), WORKER_KEY)  # type: ignore[type-var]
    assert fired(engine.handle(idle, 0, 1)) == [(W10, 1, ["e1"])]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("obj", "key"),
    [
        (wm("w1", "11:00:00", source="orchestrator"), None),  # unsigned
        (wm("w1", "11:00:00", source="orchestrator"), b"someone-else's-key"),  # forged
        (a("e2", "10:20:00", source="orchestrator"), WORKER_KEY),  # the worker sends no arrival
    ],
    ids=["unsigned", "forged", "arrival"],
)
def test_the_orchestrator_source_is_reserved(obj: dict[str, Any], key: bytes | None) -> None:
    """Anyone may write to data.arrivals, but only the worker speaks for `orchestrator`: an
    unsigned or wrongly signed watermark, or any arrival, is refused (E_RESERVED_SOURCE) and
    moves nothing."""
    engine = EventTimeEngine({"clicks": REQUIRED}, worker_key=WORKER_KEY)
    engine.handle(decode(orjson.dumps(a("e1", "10:10:00", "eu"))), 0, 0)  # type: ignore[arg-type]
    event = decode(orjson.dumps(obj))
    if key is not None and obj["type"] == "data.watermark":
        event = signed(event, key)  # type: ignore[type-var]
    effects = engine.handle(event, 0, 1)  # type: ignore[arg-type]
    assert [e.code for e in effects if isinstance(e, Rejected)] == ["E_RESERVED_SOURCE"]
    assert (
        fired(effects) == [] and "orchestrator" not in engine.datasets["clicks"].watermarks.sources
    )


def test_one_event_fires_several_windows_in_start_order() -> None:
    """When one event passes several window ends they fire in ascending start order."""
    _, out = run(
        CLICKS, [a("e1", "10:10:00"), a("e2", "11:20:00"), a("e3", "09:59:00"), wm("w", "12:00:00")]
    )
    assert [w for w, _, _ in fired(out[3])] == [W11] and fired(out[2]) == []
    _, out = run(
        REQUIRED,
        [a("e1", "10:10:00"), a("e2", "11:01:00"), a("e3", "12:10:00"), wm("w", "13:00:00", "us")],
    )
    assert [fired(x) for x in out[:3]] == [[], [], []]
    assert [w for w, _, _ in fired(out[3])] == [W10, W11]


def test_datasets_interleaved_are_independent() -> None:
    """Two datasets on one partition keep separate watermarks and windows."""
    _, out = run(
        [CLICKS, VIEWS],
        [
            a("c1", "10:10:00"),
            a("v1", "10:01:00", dataset="views"),
            a("v2", "10:16:00", dataset="views"),
            a("c2", "10:30:00"),
            a("c3", "11:06:00"),
        ],
    )
    assert fired(out[2]) == [("views/2026-11-23T10:00:00Z/PT15M", 1, ["v1"])]
    assert fired(out[3]) == []
    assert fired(out[4]) == [(W10, 1, ["c1", "c2"])]


def test_unknown_dataset_is_rejected() -> None:
    """An arrival for a dataset with no policy goes to the dlq with E_UNKNOWN_DATASET."""
    _, out = run(CLICKS, [a("x1", "10:00:00", dataset="nope")])
    assert isinstance(out[0][0], Rejected) and out[0][0].code == "E_UNKNOWN_DATASET"


def test_window_id_and_digest_are_content_based() -> None:
    """The inputs digest depends on event ids and content, not on offsets."""
    _, out1 = run(CLICKS, [a("e1", "10:10:00"), a("e2", "11:10:00")])
    engine = EventTimeEngine({"clicks": CLICKS})
    engine.handle(decode(orjson.dumps(a("e1", "10:10:00"))), 3, 100)  # type: ignore[arg-type]
    out2 = engine.handle(decode(orjson.dumps(a("e2", "11:10:00"))), 3, 200)  # type: ignore[arg-type]
    m1 = next(e for e in out1[1] if isinstance(e, WindowFired)).manifest
    m2 = next(e for e in out2 if isinstance(e, WindowFired)).manifest
    assert m1.inputs_digest == m2.inputs_digest and m1.window_id == m2.window_id
    assert [x.offset for x in m2.arrivals] == [100]


@pytest.mark.parametrize("cut", [1, 2, 3, 4, 5])
def test_restore_from_changelog_continues_identically(cut: int) -> None:
    """Replaying the StatePut/StateDelete effects rebuilds a state that behaves identically."""
    events = [
        a("e1", "10:10:00"),
        a("e2", "10:50:00", "us"),
        a("e3", "11:10:00"),
        a("e1", "10:10:00"),
        a("e4", "10:20:00"),
        wm("w", "11:40:00"),
        a("e5", "11:41:00"),
    ]
    _, full = run(CLICKS, events)
    restored = EventTimeEngine.restore({"clicks": CLICKS}, changelog(full[:cut]))
    rest = [
        restored.handle(decode(orjson.dumps(e)), 0, i) for i, e in enumerate(events) if i >= cut
    ]  # type: ignore[arg-type]
    assert [repr(x) for x in rest] == [repr(x) for x in full[cut:]]


def test_arrival_digest_is_the_digest_of_the_wire_form() -> None:
    """The hot path calls the serializer directly; it must give what `to_jsonable` gives."""
    from orchestrator.contracts.codec import parse_obj, to_jsonable
    from orchestrator.contracts.events import DataArrival
    from orchestrator.core.digest import digest
    from orchestrator.core.windows import arrival_digest

    for obj in (
        factories.arrival("d1"),
        factories.arrival(
            "d2",
            event_time="2026-11-23T12:05:00.250+02:00",
            schema_fingerprint="fp1",
            produced_at="2026-11-23T10:06:00Z",
            attributes={"a": 1, "b": None, "c": "x", "d": 1.5, "e": True},
        ),
    ):
        event = parse_obj(obj)
        assert isinstance(event, DataArrival)
        assert arrival_digest(event) == digest(to_jsonable(event))


def test_refusals_name_the_dataset_event_and_reason() -> None:
    """The dlq record of a refused event says which dataset, which event and why."""
    engine = EventTimeEngine({"clicks": REQUIRED}, worker_key=WORKER_KEY)
    forged = decode(orjson.dumps(wm("w1", "11:00:00", source="orchestrator")))
    unknown = decode(orjson.dumps({**a("e5", "10:10:00", "eu"), "dataset": "views"}))
    (r1,) = engine.handle(forged, 0, 0)  # type: ignore[arg-type]
    (r2,) = engine.handle(unknown, 0, 1)  # type: ignore[arg-type]
    assert (r1.dataset, r1.event_id, r1.code, r1.message) == (  # type: ignore[union-attr]
        "clicks",
        "w1",
        "E_RESERVED_SOURCE",
        "field 'source': 'orchestrator' is reserved for the worker's own watermarks, which "
        "carry its signature",
    )
    assert (r2.dataset, r2.event_id, r2.code, r2.message) == (  # type: ignore[union-attr]
        "views",
        "e5",
        "E_UNKNOWN_DATASET",
        "field 'dataset': no policy for dataset 'views' in gates/datasets",
    )


def test_a_restored_engine_still_knows_the_worker_s_key() -> None:
    """After recovery the worker's own idle watermarks are still recognised."""
    engine = EventTimeEngine({"clicks": REQUIRED}, worker_key=WORKER_KEY)
    engine.handle(decode(orjson.dumps(a("e1", "10:10:00", "eu"))), 0, 0)  # type: ignore[arg-type]
    restored = EventTimeEngine.restore(
        {"clicks": REQUIRED}, engine.snapshot().items(), worker_key=WORKER_KEY
    )
    idle = signed(decode(orjson.dumps(wm("w1", "11:00:00", source="orchestrator"))), WORKER_KEY)  # type: ignore[type-var]
    assert fired(restored.handle(idle, 0, 1)) == [(W10, 1, ["e1"])]  # type: ignore[arg-type]
