"""The data gate's drift reference state: with `last: k`, the checked columns' merged profiles of
the last k + 1 promoted windows (so that a new revision of the latest still has k before it),
oldest dropped first; with a pinned `window`, that window's profile once promoted, never a
reference for itself; both kept through a snapshot and a restore via JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from orchestrator.contracts.records import ArrivalRef, Check, WindowManifest
from orchestrator.core.datagate import DataGate, DataGateSpec
from orchestrator.core.decision import GateInfo
from orchestrator.core.drift import Drift, DriftCheck
from orchestrator.core.policy import ProfileColumn
from orchestrator.errors import E_DRIFT, OK

GATE = GateInfo("dataset/clicks", 1, "sha256:policy")
T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)
COLUMNS = (ProfileColumn("amount", edges=(0.0, 1.0)), ProfileColumn("other", edges=(0.0,)))
#: a warning: a window beyond it is still promoted
SHIFT = DriftCheck("amount", "mean_shift", 1.0)


def wid(hour: int) -> str:
    return f"clicks/2026-11-23T{hour:02d}:00:00Z/PT1H"


def amount(mean: float, count: int = 10) -> dict[str, Any]:
    """A merged profile of the amount column: `count` values of standard deviation 1."""
    return {"count": count, "nulls": 0, "mean": mean, "std": 1.0, "min": mean - 2, "max": mean + 2}


def kept(mean: float, count: int = 10) -> dict[str, Any]:
    """The amount column as the gate keeps it: with the declaration it was kept under."""
    return {**amount(mean, count), "declared": [[0.0, 1.0], None]}


def profile(mean: float, count: int = 10) -> dict[str, Any]:
    """A window's merged profile: amount (checked) and other (declared, not checked)."""
    return {"amount": amount(mean, count), "other": {"count": 3, "nulls": 1}}


def manifest(hour: int, prof: dict[str, Any] | None, revision: int = 1) -> WindowManifest:
    ref = ArrivalRef(
        event_id=f"e{hour}.{revision}",
        source="eu",
        uri="s3://lake/x",
        checksum="sha256:c",
        record_count=5,
        digest="sha256:d",
        partition=0,
        offset=10 * hour + revision,
    )
    return WindowManifest(
        window_id=wid(hour),
        dataset="clicks",
        start=T0,
        end=T0,
        revision=revision,
        supersedes_revision=revision - 1 if revision > 1 else None,
        watermark=T0,
        arrivals=[ref],
        record_total=5,
        sources=["eu"],
        checksums=["sha256:c"],
        inputs_digest="sha256:i",
        profile=prof,
    )


def gate(last: int | None = None, window: str | None = None) -> DataGate:
    spec = DataGateSpec(GATE, profile=COLUMNS, drift=Drift(last, window, (SHIFT,)))
    return DataGate(spec, "data.arrivals", "t")


def shift_check(g: DataGate, m: WindowManifest) -> Check:
    """The mean_shift check of the decision on `m` (the gate remembers it, as it would)."""
    decision = g.decide(m, T0)
    assert decision.outcome == "promote"
    (c,) = [c for c in decision.checks if c.name == "drift.amount.mean_shift"]
    return c


def through_json(g: DataGate) -> dict[str, Any]:
    value: dict[str, Any] = orjson.loads(orjson.dumps(g.snapshot()))
    return value


# -- last: k ----------------------------------------------------------------------------------


def test_the_reference_is_the_last_k_promoted_windows_and_the_state_holds_k_plus_one() -> None:
    """k = 2, windows promoted hour after hour: each is judged against the two promoted before
    it (fewer at first); the state keeps the three latest profiles, oldest dropped first, of
    the checked column only."""
    g = gate(last=2)
    seen = []
    for hour in range(5):
        c = shift_check(g, manifest(hour, profile(float(hour))))
        seen.append((c.observed["reference"], c.observed["reference_count"]))
    assert seen == [
        ([], 0),
        ([wid(0)], 10),
        ([wid(0), wid(1)], 20),
        ([wid(1), wid(2)], 20),
        ([wid(2), wid(3)], 20),
    ]
    assert through_json(g)["profiles"] == [[wid(h), {"amount": kept(float(h))}] for h in (2, 3, 4)]
    assert through_json(g)["pinned"] is None


def test_the_reference_of_the_latest_windows_figures_is_their_merge() -> None:
    """Hours 1 and 2 (means 1 and 3, std 1) merge to mean 2 and std sqrt(2): hour 3 at mean 5
    lies 3 / sqrt(2) reference deviations away, beyond the bound of 1."""
    g = gate(last=2)
    for hour, mean in [(0, 100.0), (1, 1.0), (2, 3.0)]:
        shift_check(g, manifest(hour, profile(mean)))
    c = shift_check(g, manifest(3, profile(5.0)))
    assert (c.passed, c.code, c.severity) == (False, E_DRIFT, "warn")
    assert c.observed == {
        "count": 10,
        "reference_count": 20,
        "reference": [wid(1), wid(2)],
        "value": round(3 / 2**0.5, 6),
    }


def test_a_new_revision_of_the_latest_window_is_judged_against_the_k_before_it() -> None:
    """k = 2: hours 0, 1, 2 promoted; revision 2 of hour 2 is not its own reference: it is
    judged against hours 0 and 1 (the third profile kept is what makes that possible), and
    replaces hour 2's profile in the state."""
    g = gate(last=2)
    for hour in range(3):
        shift_check(g, manifest(hour, profile(float(hour))))
    c = shift_check(g, manifest(2, profile(7.0), revision=2))
    assert (c.observed["reference"], c.observed["reference_count"]) == ([wid(0), wid(1)], 20)
    assert through_json(g)["profiles"] == [
        [wid(0), {"amount": kept(0.0)}],
        [wid(1), {"amount": kept(1.0)}],
        [wid(2), {"amount": kept(7.0)}],
    ]


def test_the_last_k_state_survives_a_restore_through_json() -> None:
    """A gate restored from the snapshot (as the changelog holds it) judges the next window
    against the same windows and figures as the gate it was taken from."""
    first = gate(last=2)
    for hour in range(4):
        shift_check(first, manifest(hour, profile(float(hour))))
    second = gate(last=2)
    second.restore(through_json(first))
    assert through_json(second) == through_json(first)
    nxt = manifest(4, profile(9.0))
    assert shift_check(second, nxt) == shift_check(first, nxt)


# -- a pinned window --------------------------------------------------------------------------


def test_before_the_pinned_window_is_promoted_there_is_no_reference() -> None:
    """Pinned to hour 0, which has not been decided: hour 1 passes with an empty reference,
    and the state says nothing is pinned yet."""
    g = gate(window=wid(0))
    assert g.snapshot() == {"promoted": [], "profiles": [], "pinned": None}
    c = shift_check(g, manifest(1, profile(50.0)))
    assert (c.passed, c.code) == (True, OK)
    assert c.observed == {"count": 10, "reference_count": 0, "reference": []}
    assert through_json(g)["pinned"] is None


def test_the_pinned_window_is_the_reference_of_others_never_of_itself() -> None:
    """Once hour 0 (the pinned window) is promoted, hour 1 is judged against it; a new
    revision of hour 0 is not judged against its own earlier profile (empty reference) but
    becomes the pinned profile; windows after are judged against that."""
    g = gate(window=wid(0))
    assert shift_check(g, manifest(0, profile(0.0))).observed["reference"] == []
    c = shift_check(g, manifest(1, profile(3.0)))
    assert c.observed == {
        "count": 10,
        "reference_count": 10,
        "reference": [wid(0)],
        "value": 3.0,
    }
    again = shift_check(g, manifest(0, profile(2.0, count=4), revision=2))
    assert (again.passed, again.observed["reference"]) == (True, [])
    assert "value" not in again.observed
    c = shift_check(g, manifest(2, profile(3.0)))
    assert (c.observed["reference_count"], c.observed["value"]) == (4, 1.0)
    assert through_json(g)["pinned"] == {"amount": kept(2.0, count=4)}
    assert through_json(g)["profiles"] == []


def test_the_pinned_profile_survives_a_restore_through_json() -> None:
    """The pinned window's profile (checked column only) is in the snapshot and comes back
    with a restore: the restored gate judges against it exactly as the original does."""
    first = gate(window=wid(0))
    shift_check(first, manifest(0, profile(0.0)))
    held = through_json(first)
    assert held["pinned"] == {"amount": kept(0.0)}
    second = gate(window=wid(0))
    second.restore(held)
    assert through_json(second) == held
    nxt = manifest(1, profile(4.0))
    c = shift_check(second, nxt)
    assert c.observed == {
        "count": 10,
        "reference_count": 10,
        "reference": [wid(0)],
        "value": 4.0,
    }
    assert c == shift_check(first, nxt)


def test_a_restore_of_a_state_without_a_pinned_window_pins_nothing() -> None:
    """A snapshot taken before the pinned window was promoted (or one without drift state at
    all) restores to no reference."""
    g = gate(window=wid(0))
    shift_check(g, manifest(0, profile(0.0)))
    g.restore({"promoted": [], "profiles": [], "pinned": None})
    assert shift_check(g, manifest(1, profile(4.0))).observed["reference"] == []
    g.restore({"promoted": []})
    assert g.snapshot() == {"promoted": [], "profiles": [], "pinned": None}
