"""The data gate's drift checks (README "Drift") on hand-built profiles: which windows can be
judged (empty reference, empty window, a single value on either side), the bound itself,
the KS statistic's choice between quantiles and bins, and every evidence field."""

from __future__ import annotations

import math
from typing import Any

import pytest

from orchestrator.core import profile
from orchestrator.core.drift import Drift, DriftCheck, Stat, drift_checks, statistic
from orchestrator.core.policy import ProfileColumn
from orchestrator.errors import E_DRIFT, OK

EDGES = (0.0, 1.0)
PROBS = (0.25, 0.5, 0.75)
BOTH = ProfileColumn("x", EDGES, PROBS)
BINS_ONLY = ProfileColumn("x", EDGES, None)
W1, W2 = "clicks/2026-11-23T01:00:00Z/PT1H", "clicks/2026-11-23T02:00:00Z/PT1H"


def col(mean: float, std: float, bins: list[int], lo: float = -1.0, hi: float = 2.0) -> Any:
    """A column profile with moments, extremes and bins (no quantiles)."""
    return {
        "count": sum(bins),
        "nulls": 0,
        "mean": mean,
        "std": std,
        "min": lo,
        "max": hi,
        "bins": bins,
    }


def run(stat: Stat, bound: float, current: Any, *refs: Any, column: ProfileColumn = BOTH) -> Any:
    """The one check `stat <= bound` of column x, the window's profile `current` (None: no
    column) against reference windows W1, W2, ... holding `refs` (None: no column)."""
    spec = Drift(last=len(refs) or 1, window=None, checks=(DriftCheck("x", stat, bound),))
    windows = [(w, {} if r is None else {"x": r}) for w, r in zip((W1, W2), refs, strict=False)]
    cur = {} if current is None else {"x": current}
    (check,) = drift_checks(spec, [column], cur, windows)
    assert check.name == f"drift.x.{stat}"
    assert check.expected == {"max": bound}
    assert check.severity == "warn"
    return check


def test_a_reference_without_values_passes_with_no_figure() -> None:
    """Reference windows whose column had only nulls (count 0, no moments): nothing to drift
    from yet, the check passes, its evidence names the windows and has no value."""
    c = run("mean_shift", 1.0, col(5.0, 1.0, [0, 2, 2]), {"count": 0, "nulls": 9})
    assert (c.passed, c.code) == (True, OK)
    assert c.observed == {"count": 4, "reference_count": 0, "reference": [W1]}
    c = run("psi", 0.1, col(5.0, 1.0, [0, 2, 2]), None, {"count": 0, "nulls": 1})
    assert (c.passed, c.code) == (True, OK)
    # W1 holds no amount column at all: only W2 is named (the windows that hold the column)
    assert c.observed == {"count": 4, "reference_count": 0, "reference": [W2]}


def test_a_window_without_values_fails_as_not_judged() -> None:
    """A window whose column holds only nulls (count 0) or is absent fails: value null, the
    counts and reference windows shown, code E_DRIFT, the bound as expected."""
    ref = col(0.0, 1.0, [1, 1, 2])
    for current in ({"count": 0, "nulls": 7}, None):
        c = run("ks", 0.5, current, ref)
        assert (c.passed, c.code) == (False, E_DRIFT)
        assert c.observed == {"count": 0, "reference_count": 4, "reference": [W1], "value": None}


def test_a_single_value_on_either_side_is_judged() -> None:
    """Count 1 is enough: a window of one value 3 against a reference of one value 2 (std 0)
    is an infinite mean shift, shown as "inf"; against the same value, a shift of 0."""
    one = col(3.0, 0.0, [0, 0, 1], lo=3.0, hi=3.0)
    ref = col(2.0, 0.0, [0, 0, 1], lo=2.0, hi=2.0)
    c = run("mean_shift", 1.0, one, ref)
    assert (c.passed, c.code) == (False, E_DRIFT)
    assert c.observed == {"count": 1, "reference_count": 1, "reference": [W1], "value": "inf"}
    c = run("mean_shift", 1.0, ref, ref)
    assert (c.passed, c.code, c.observed["value"]) == (True, OK, 0.0)


def test_the_bound_is_inclusive() -> None:
    """A mean shift of exactly 1 reference deviation ((2 - 0) / 2) passes `max: 1.0`; the
    same window fails a bound a hair lower."""
    cur, ref = col(2.0, 1.0, [0, 1, 1]), col(0.0, 2.0, [1, 1, 0])
    c = run("mean_shift", 1.0, cur, ref)
    assert (c.passed, c.code, c.observed["value"]) == (True, OK, 1.0)
    c = run("mean_shift", math.nextafter(1.0, 0.0), cur, ref)
    assert (c.passed, c.code, c.observed["value"]) == (False, E_DRIFT, 1.0)


def test_ks_from_bins_when_the_column_declares_no_quantiles() -> None:
    """Bins only: D of [1, 0, 3] against [2, 2, 0] is the largest gap of the cumulative shares
    at the edges, |1/4 - 1| = 3/4; the statistic is the same either way round."""
    cur, ref = col(1.0, 1.0, [1, 0, 3]), col(0.0, 1.0, [2, 2, 0])
    assert statistic("ks", BINS_ONLY, cur, ref) == 0.75
    assert statistic("ks", BINS_ONLY, ref, cur) == 0.75
    c = run("ks", 0.5, cur, ref, column=BINS_ONLY)
    assert (c.passed, c.observed["value"]) == (False, 0.75)


def test_ks_from_bins_when_either_side_lacks_quantiles() -> None:
    """The column declares quantiles but one profile has none (say, a reference kept from
    before they were declared): KS falls back to the bins (D 3/4 here), on whichever side they
    are missing; with quantiles on both sides it is read from them: at 0.9 the reference is
    complete and the window at 1/4 * 0.4/0.5, so D is 0.8."""
    cur, ref = col(1.2, 0.5, [0, 1, 3], lo=0.5), col(-0.2, 0.6, [2, 2, 0], hi=0.9)
    cur_q = dict(cur, quantiles=[1.0, 1.25, 1.5])
    ref_q = dict(ref, quantiles=[-0.5, 0.0, 0.5])
    assert statistic("ks", BOTH, cur_q, ref) == 0.75
    assert statistic("ks", BOTH, cur, ref_q) == 0.75
    assert statistic("ks", BOTH, cur_q, ref_q) == pytest.approx(0.8, abs=1e-12)
    assert statistic("ks", BOTH, cur_q, ref_q) == profile.ks_quantiles(cur_q, ref_q, PROBS)
