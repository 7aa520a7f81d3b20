"""What the event-time core holds is bounded, and the bounds are explicit (SPEC §2, §3):
future events, open windows, record totals. What is refused says so and changes nothing."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from orchestrator.contracts import decode
from orchestrator.core.effects import Accepted, Effect, Rejected, WatermarkAdvanced, WindowFired
from orchestrator.core.engine import EventTimeEngine
from orchestrator.core.policy import DatasetSpec
from orchestrator.core.timeutil import parse_rfc3339_ms
from orchestrator.core.windows import INT64_MAX
from tests import factories

H = 3_600_000
M = 60_000
SPEC = DatasetSpec("clicks", window_ms=H, out_of_orderness_ms=0, allowed_lateness_ms=0)


def ev(obj: dict[str, Any]) -> Any:
    return decode(orjson.dumps(obj))


def at(t: str) -> int:
    return parse_rfc3339_ms(f"2026-11-23T{t}Z")


def codes(effects: list[Effect]) -> list[str]:
    return [e.code for e in effects if isinstance(e, Rejected)]


# -- max_future_skew -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_time", "broker_time", "refused"),
    [
        ("11:00:00", "10:00:00", False),  # exactly the skew ahead: accepted
        ("11:00:00.001", "10:00:00", True),  # one ms more: refused
        ("09:00:00", "10:00:00", False),  # behind the broker: the normal case
    ],
)
def test_future_arrival_is_refused_at_the_bound(
    event_time: str, broker_time: str, refused: bool
) -> None:
    """An arrival further ahead of its broker timestamp than max_future_skew (1 h by default)
    goes to the dlq as E_FUTURE_EVENT and moves no watermark; at the bound it is accepted."""
    engine = EventTimeEngine({"clicks": SPEC})
    effects = engine.handle(
        ev(factories.arrival("f", event_time=f"2026-11-23T{event_time}Z")),
        0,
        0,
        timestamp_ms=at(broker_time),
    )
    assert codes(effects) == (["E_FUTURE_EVENT"] if refused else [])
    assert any(isinstance(e, WatermarkAdvanced) for e in effects) is not refused
    assert (engine.datasets["clicks"].watermarks.sources == {}) is refused


def test_far_future_event_does_not_poison_the_dataset() -> None:
    """The year-9999 arrival of the fault report is refused; the dataset keeps working."""
    engine = EventTimeEngine({"clicks": SPEC})
    poison = factories.arrival("poison", event_time="9999-12-31T23:59:59Z")
    assert codes(engine.handle(ev(poison), 0, 0, timestamp_ms=at("10:00:00"))) == ["E_FUTURE_EVENT"]
    fine = engine.handle(
        ev(factories.arrival("ok", event_time="2026-11-23T10:05:00Z")),
        0,
        1,
        timestamp_ms=at("10:06:00"),
    )
    assert [type(e).__name__ for e in fine if isinstance(e, Accepted)] == ["Accepted"]


def test_future_watermark_is_refused_and_fires_nothing() -> None:
    """A data.watermark from the future is refused too: it would fire every open window."""
    engine = EventTimeEngine({"clicks": SPEC})
    engine.handle(
        ev(factories.arrival("a", event_time="2026-11-23T10:05:00Z")),
        0,
        0,
        timestamp_ms=at("10:06:00"),
    )
    effects = engine.handle(
        ev(factories.watermark("w", watermark="2026-11-24T10:00:00Z")),
        0,
        1,
        timestamp_ms=at("10:07:00"),
    )
    assert codes(effects) == ["E_FUTURE_EVENT"]
    assert not [e for e in effects if isinstance(e, WindowFired)]


def test_no_timestamp_or_no_bound_means_no_check() -> None:
    """The core judges against the time it is given: without one (the pipeline never hands it
    a record without a trusted time: it refuses those first, E_UNTRUSTED_TIME) or with
    max_future_skew 'none', nothing is refused as future."""
    unbounded = DatasetSpec(
        "clicks", window_ms=H, out_of_orderness_ms=0, allowed_lateness_ms=0, max_future_skew_ms=None
    )
    far = ev(factories.arrival("f", event_time="2030-01-01T00:00:00Z"))
    assert codes(EventTimeEngine({"clicks": SPEC}).handle(far, 0, 0)) == []
    assert codes(EventTimeEngine({"clicks": unbounded}).handle(far, 0, 0, timestamp_ms=0)) == []


# -- max_open_windows ------------------------------------------------------------------------


def test_open_windows_are_bounded_and_nothing_is_lost() -> None:
    """With a silent required source no window fires; at max_open_windows an arrival that
    would open another window is refused (E_WINDOW_LIMIT), arrivals into open ones are not."""
    spec = DatasetSpec(
        "clicks",
        window_ms=H,
        out_of_orderness_ms=0,
        allowed_lateness_ms=0,
        required_sources=frozenset({"eu", "us"}),
        max_open_windows=2,
    )
    engine = EventTimeEngine({"clicks": spec})
    out = [
        engine.handle(ev(factories.arrival(f"a{i}", event_time=f"2026-11-23T{h}:10:00Z")), 0, i)
        for i, h in enumerate(["10", "11", "12", "10"])
    ]
    assert [codes(e) for e in out] == [[], [], ["E_WINDOW_LIMIT"], []]
    assert len(engine.datasets["clicks"].windows) == 2
    refused = next(e for e in out[2] if isinstance(e, Rejected))
    assert "max_open_windows" in refused.message and refused.event_id == "a2"


def test_the_bound_frees_up_when_windows_close() -> None:
    """Once the watermark drops windows, new windows are accepted again."""
    spec = DatasetSpec(
        "clicks", window_ms=H, out_of_orderness_ms=0, allowed_lateness_ms=0, max_open_windows=1
    )
    engine = EventTimeEngine({"clicks": spec})
    engine.handle(ev(factories.arrival("a", event_time="2026-11-23T10:10:00Z")), 0, 0)
    assert codes(
        engine.handle(ev(factories.arrival("b", event_time="2026-11-23T11:10:00Z")), 0, 1)
    ) == ["E_WINDOW_LIMIT"]
    engine.handle(ev(factories.watermark("w", source="eu", watermark="2026-11-23T11:00:00Z")), 0, 2)
    assert (
        codes(engine.handle(ev(factories.arrival("b", event_time="2026-11-23T11:10:00Z")), 0, 3))
        == []
    )


# -- 64-bit totals ---------------------------------------------------------------------------


def test_record_total_never_leaves_signed_64_bit() -> None:
    """Two arrivals of 2^63-1 records each: the second is refused (E_OVERFLOW); the window
    fires with the first alone and its manifest encodes."""
    engine = EventTimeEngine({"clicks": SPEC})
    first = engine.handle(ev(factories.arrival("a", record_count=INT64_MAX)), 0, 0)
    second = engine.handle(ev(factories.arrival("b", record_count=INT64_MAX)), 0, 1)
    assert codes(first) == [] and codes(second) == ["E_OVERFLOW"]
    fired = engine.handle(ev(factories.watermark("w", watermark="2026-11-23T11:00:00Z")), 0, 2)
    (window,) = [e.manifest for e in fired if isinstance(e, WindowFired)]
    assert window.record_total == INT64_MAX
    assert orjson.loads(orjson.dumps(window.model_dump(mode="json")))["record_total"] == INT64_MAX


def test_open_and_overdue_windows_are_counted_against_the_clock_given() -> None:
    """A window is overdue once the wall clock passes its end plus `expected_by` without it
    having fired; a fired window is not, and without `expected_by` nothing is."""
    due = DatasetSpec(
        "clicks", window_ms=H, out_of_orderness_ms=0, allowed_lateness_ms=H, expected_by_ms=600_000
    )
    engine = EventTimeEngine({"clicks": due, "views": SPEC.__class__("views", H, 0, H)})
    for i, (ds, t) in enumerate(
        [
            ("clicks", "2026-11-23T10:05:00Z"),
            ("clicks", "2026-11-23T11:05:00Z"),  # fires 10:00 (watermark 11:05)
            ("views", "2026-11-23T10:05:00Z"),
        ]
    ):
        engine.handle(ev(factories.arrival(f"a{i}", dataset=ds, event_time=t)), 0, i)
    end_11 = at("12:00:00")
    assert engine.window_counts(end_11 + 600_000) == {"clicks": (2, 0), "views": (1, 0)}
    assert engine.window_counts(end_11 + 600_001) == {"clicks": (2, 1), "views": (1, 0)}


# -- max_sources -----------------------------------------------------------------------------


def test_sources_per_dataset_are_bounded() -> None:
    """max_sources 2: a third source's arrival or watermark is refused (E_SOURCE_LIMIT) and
    kept nowhere; the known sources and the worker's own go on."""
    spec = DatasetSpec(
        "clicks", window_ms=H, out_of_orderness_ms=0, allowed_lateness_ms=0, max_sources=2
    )
    engine = EventTimeEngine({"clicks": spec})
    ok = [engine.handle(ev(factories.arrival(f"a{s}", source=s)), 0, i) for i, s in enumerate("ab")]
    third = engine.handle(ev(factories.arrival("ac", source="c")), 0, 2)
    wm = engine.handle(ev(factories.watermark("wc", source="c")), 0, 3)
    again = engine.handle(ev(factories.arrival("ab2", source="b")), 0, 4)
    assert [codes(e) for e in ok] == [[], []] and codes(again) == []
    assert codes(third) == ["E_SOURCE_LIMIT"] and codes(wm) == ["E_SOURCE_LIMIT"]
    assert sorted(engine.datasets["clicks"].watermarks.sources) == ["a", "b"]
    assert "max_sources 2" in next(e for e in third if isinstance(e, Rejected)).message


# -- max_window_arrivals, max_window_bytes ---------------------------------------------------


@pytest.mark.parametrize(
    "bound",
    [{"max_window_arrivals": 2}, {"max_window_bytes": 1000}],
    ids=["arrivals", "bytes"],
)
def test_a_full_window_refuses_arrivals_and_its_gate_rejects_it(bound: dict[str, int]) -> None:
    """At max_window_arrivals (or when the manifest and decision would outgrow
    max_window_bytes) an arrival is refused (E_WINDOW_FULL) and counted on the window; the
    window fires with what it holds, its manifest says how many were refused, and its data
    gate rejects it as incomplete. The count survives a restore."""
    from orchestrator.core.datagate import DataGate, DataGateSpec
    from orchestrator.core.decision import GateInfo
    from orchestrator.core.effects import Decided

    spec = DatasetSpec("clicks", window_ms=H, out_of_orderness_ms=0, allowed_lateness_ms=H, **bound)
    gates = {"clicks": lambda: DataGate(DataGateSpec(GateInfo("g", 1, "d")), "data.arrivals", "1")}
    engine = EventTimeEngine({"clicks": spec}, gates)
    out = [
        engine.handle(ev(factories.arrival(f"a{i}", event_time="2026-11-23T10:10:00Z")), 0, i)
        for i in range(4)
    ]
    assert [codes(e) for e in out] == [[], [], ["E_WINDOW_FULL"], ["E_WINDOW_FULL"]]
    restored = EventTimeEngine.restore({"clicks": spec}, list(engine.snapshot().items()), gates)
    for e in (engine, restored):
        fired = e.handle(ev(factories.watermark("w", watermark="2026-11-23T11:00:00Z")), 0, 9)
        (manifest,) = [x.manifest for x in fired if isinstance(x, WindowFired)]
        (decision,) = [x.decision for x in fired if isinstance(x, Decided)]
        assert [a.event_id for a in manifest.arrivals] == ["a0", "a1"] and manifest.refused == 2
        assert decision.outcome == "reject"
        assert [(c.name, c.code) for c in decision.checks if not c.passed] == [
            ("window_size", "E_WINDOW_FULL")
        ]


def test_a_window_that_was_never_full_has_the_manifest_it_always_had() -> None:
    """No refusal: no `refused` key on the wire, so every manifest is byte-identical to before."""
    engine = EventTimeEngine({"clicks": SPEC})
    engine.handle(ev(factories.arrival("a")), 0, 0)
    fired = engine.handle(ev(factories.watermark("w", watermark="2026-11-23T11:00:00Z")), 0, 1)
    (window,) = [e for e in fired if isinstance(e, WindowFired)]
    assert "refused" not in window.wire and window.manifest.refused is None


def test_the_weight_bound_keeps_the_largest_manifest_within_its_topic() -> None:
    """Arrivals with the largest fields the contract allows (ids of 200, uris, checksums and
    fingerprints of 4096 characters, escaped): the window accepts no more than fit, and the
    manifest and decision it fires are below Kafka's default 1 MiB record."""
    from orchestrator.contracts.records import AuditDecision
    from orchestrator.contracts.wire import decision_wire, wire_json
    from orchestrator.core.datagate import DataGate, DataGateSpec
    from orchestrator.core.decision import GateInfo
    from orchestrator.core.effects import Decided

    gates = {"clicks": lambda: DataGate(DataGateSpec(GateInfo("g", 1, "d")), "data.arrivals", "1")}
    engine = EventTimeEngine({"clicks": SPEC}, gates)
    big = '"\\' * 1365 + "x"  # 4096 characters that escape to two bytes each
    n = 0
    while True:
        arrival = factories.arrival(f"{n:0>200}", event_time="2026-11-23T10:10:00Z")
        arrival.update(uri=big, checksum=big, schema_fingerprint=big + str(n)[:0])
        if codes(engine.handle(ev(arrival), 0, n)) == ["E_WINDOW_FULL"]:
            break
        n += 1
    assert n > 10, n
    fired = engine.handle(ev(factories.watermark("w", watermark="2026-11-23T11:00:00Z")), 0, n + 1)
    (window,) = [e for e in fired if isinstance(e, WindowFired)]
    (decision,) = [e.decision for e in fired if isinstance(e, Decided)]
    assert isinstance(decision, AuditDecision)
    assert len(wire_json(window.wire)) < 1_048_588 and len(decision_wire(decision)) < 1_048_588
