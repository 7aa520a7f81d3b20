"""The data gate's evidence for a window that refused arrivals (window_size), and the engine's
rebuild of one dataset from its changelog entries (the shell's way back from a record that
failed half-way)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from orchestrator.contracts import decode
from orchestrator.contracts.records import ArrivalRef, WindowManifest
from orchestrator.core.datagate import DataGate, DataGateSpec, RecordCount
from orchestrator.core.decision import GateInfo
from orchestrator.core.effects import Duplicate
from orchestrator.core.engine import EventTimeEngine
from orchestrator.core.policy import DatasetSpec
from orchestrator.core.position import POSITION_KEY
from orchestrator.core.windows import SEP
from tests import factories

GATE = GateInfo("dataset/clicks", 1, "sha256:policy")
T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)
W10 = "clicks/2026-11-23T10:00:00Z/PT1H"


def manifest(n_arrivals: int, refused: int | None) -> WindowManifest:
    """A fired window of `n_arrivals` arrivals of 5 records each, `refused` refused."""
    refs = [
        ArrivalRef(
            event_id=f"e{i}",
            source="eu",
            uri="s3://lake/x",
            checksum="sha256:c",
            record_count=5,
            digest="sha256:d",
            partition=0,
            offset=i,
        )
        for i in range(n_arrivals)
    ]
    return WindowManifest(
        window_id=W10,
        dataset="clicks",
        start=T0,
        end=T0,
        revision=1,
        watermark=T0,
        arrivals=refs,
        record_total=5 * n_arrivals,
        sources=["eu"],
        checksums=["sha256:c"] * n_arrivals,
        inputs_digest="sha256:i",
        refused=refused,
    )


# -- window_size: the evidence of a full window -----------------------------------------------


@pytest.mark.parametrize(("held", "refused"), [(2, 3), (0, 1), (10_000, 1)])
def test_a_window_that_refused_arrivals_fails_window_size_with_its_counts(
    held: int, refused: int
) -> None:
    """A manifest with refused arrivals: the first check is window_size, failed (False, not
    merely falsy) at severity error with E_WINDOW_FULL; observed gives the arrivals held and
    the count refused, expected a refused count of 0. It rejects the window even though every
    other check passes."""
    g = DataGate(DataGateSpec(GATE, record_count=RecordCount(0)), "data.arrivals", "t")
    decision = g.decide(manifest(held, refused), T0)
    first = decision.checks[0]
    assert first.passed is False
    assert first.model_dump() == {
        "name": "window_size",
        "passed": False,
        "severity": "error",
        "observed": {"arrivals": held, "refused": refused},
        "expected": {"refused": 0},
        "code": "E_WINDOW_FULL",
    }
    assert [(c.name, c.passed) for c in decision.checks] == [
        ("window_size", False),
        ("record_count", True),
    ]
    assert decision.outcome == "reject"


def test_a_window_without_refusals_has_no_window_size_check() -> None:
    """refused None (never full): no window_size check at all, and the window is promoted."""
    g = DataGate(DataGateSpec(GATE), "data.arrivals", "t")
    decision = g.decide(manifest(2, None), T0)
    assert (decision.checks, decision.outcome) == ([], "promote")


# -- EventTimeEngine.rebuild ------------------------------------------------------------------

H = 3_600_000
SPEC = DatasetSpec("clicks", window_ms=H, out_of_orderness_ms=0, allowed_lateness_ms=H)
OTHER = DatasetSpec("views", window_ms=H, out_of_orderness_ms=0, allowed_lateness_ms=H)
SPECS = {"clicks": SPEC, "views": OTHER}
GATES = {"clicks": lambda: DataGate(DataGateSpec(GATE), "data.arrivals", "t")}
#: event ids and a source holding the key separator and blanks (the contracts allow them)
ODD = f"a{SEP}b {SEP}c"


def ev(obj: dict[str, Any]) -> Any:
    return decode(orjson.dumps(obj))


def live() -> EventTimeEngine:
    """A gated clicks dataset with a decided window, a late revision and odd ids, plus views."""
    engine = EventTimeEngine(SPECS, GATES)
    events = [
        factories.arrival(ODD, source=f"e u{SEP}1"),
        factories.arrival("b", source="us", event_time="2026-11-23T10:20:00Z"),
        factories.watermark("w", watermark="2026-11-23T11:00:00Z"),
        factories.arrival(f"late{SEP}x", event_time="2026-11-23T10:40:00Z"),
        factories.arrival("v", dataset="views"),
    ]
    for i, e in enumerate(events):
        engine.handle(ev(e), 0, i, T0)
    return engine


def state_of(engine: EventTimeEngine, dataset: str) -> list[tuple[str, Any]]:
    """One dataset's changelog entries, JSON round-tripped as the worker stores them."""
    snap = orjson.loads(orjson.dumps(engine.snapshot()))
    return [(k, v) for k, v in snap.items() if k != POSITION_KEY and k.startswith(dataset + SEP)]


def test_rebuild_into_an_engine_that_never_held_the_dataset_restores_it_exactly() -> None:
    """An engine that has not seen clicks yet rebuilds it from its entries (windows, arrivals
    whose ids hold the separator, source watermarks, gate state): the same snapshot, the
    same gate memory, and a duplicate is still recognised."""
    engine = live()
    fresh = EventTimeEngine(SPECS, GATES)
    fresh.rebuild("clicks", state_of(engine, "clicks"))
    assert state_of(fresh, "clicks") == state_of(engine, "clicks")
    assert set(fresh.datasets) == {"clicks"}
    rebuilt, original = fresh.datasets["clicks"], engine.datasets["clicks"]
    assert rebuilt.gate is not None and original.gate is not None
    assert rebuilt.gate.promoted == original.gate.promoted
    assert rebuilt.index == original.index
    assert fresh.handle(ev(factories.arrival(ODD, source=f"e u{SEP}1")), 0, 9) == [
        Duplicate("clicks", ODD, W10)
    ]


def test_rebuild_replaces_one_datasets_state_and_leaves_the_others() -> None:
    """Rebuilding clicks from older entries discards what clicks held since (no merge) and
    leaves views as it was."""
    before = EventTimeEngine(SPECS, GATES)
    before.handle(ev(factories.arrival("first")), 0, 0, T0)
    older = state_of(before, "clicks")
    engine = live()
    views = state_of(engine, "views")
    engine.rebuild("clicks", older)
    assert state_of(engine, "clicks") == older
    assert state_of(engine, "views") == views
    assert set(engine.datasets["clicks"].index) == {"first"}


def test_rebuild_of_a_dataset_without_a_policy_leaves_nothing() -> None:
    """A dataset whose policy was removed: its state lapses, no dataset is created."""
    engine = EventTimeEngine(SPECS, GATES)
    engine.rebuild("gone", [(f"gone{SEP}s{SEP}eu", 0)])
    assert engine.datasets == {}
