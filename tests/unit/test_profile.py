"""Data profiles and drift statistics against reference implementations (numpy, scipy)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from orchestrator.core import profile
from tests import profiles

EDGES = [-1.0, -0.5, 0.0, 0.5, 1.0, 2.0]
PROBS = [i / 20 for i in range(1, 20)]


def column(values: np.ndarray, nulls: int = 0) -> dict[str, Any]:
    """A producer's profile of `values`, computed with numpy."""
    if values.size == 0:
        return {"count": 0, "nulls": nulls}
    return {**profiles.column(values, EDGES, PROBS), "nulls": nulls}


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261207)


def test_merge_is_exact_for_counts_moments_extremes_and_bins(rng: np.random.Generator) -> None:
    parts = [rng.normal(i * 0.3, 1 + i * 0.2, size=200 + 50 * i) for i in range(5)]
    merged = profile.merge([column(p, nulls=i) for i, p in enumerate(parts)], PROBS)
    whole = np.concatenate(parts)
    exact = column(whole)
    assert merged["count"] == whole.size
    assert merged["nulls"] == sum(range(5))
    assert merged["mean"] == pytest.approx(exact["mean"], rel=1e-12)
    assert merged["std"] == pytest.approx(exact["std"], rel=1e-12)
    assert (merged["min"], merged["max"]) == (exact["min"], exact["max"])
    assert merged["bins"] == exact["bins"]


def test_merged_quantiles_approximate_the_union(rng: np.random.Generator) -> None:
    """The one approximation: quantiles of the mixture of the parts' piecewise-linear
    distributions. On parts of a few hundred values each it is within 0.06 of the union's
    quantiles from 0.1 to 0.9 and within 0.1 in the tails, where each part's distribution is a
    straight line from its extreme to its outermost quantile (units of the values, whose
    spread is about 1)."""
    parts = [rng.normal(i * 0.5, 1.0, size=400) for i in range(4)]
    merged = profile.merge([column(p) for p in parts], PROBS)
    exact = np.quantile(np.concatenate(parts), PROBS)
    assert merged["quantiles"] == pytest.approx(exact.tolist(), abs=0.1)
    assert merged["quantiles"][1:-1] == pytest.approx(exact.tolist()[1:-1], abs=0.06)
    assert merged["quantiles"] == sorted(merged["quantiles"])


def test_one_part_keeps_its_quantiles_and_empty_parts_add_only_counts(
    rng: np.random.Generator,
) -> None:
    values = rng.normal(size=100)
    one = column(values)
    merged = profile.merge([one, column(np.array([]), nulls=7)], PROBS)
    assert merged["quantiles"] == one["quantiles"]
    assert merged["nulls"] == 7
    assert profile.merge([column(np.array([]), nulls=3)], PROBS) == {"count": 0, "nulls": 3}


def test_a_constant_part_is_a_point_mass() -> None:
    """min == max: the part's distribution jumps at that value; the mixture is inverted across
    the jump."""
    constant = {"count": 100, "nulls": 0, "mean": 5.0, "std": 0.0, "min": 5.0, "max": 5.0}
    constant["quantiles"] = [5.0] * len(PROBS)
    constant["bins"] = [0, 0, 0, 0, 0, 0, 100]
    spread = column(np.linspace(0.0, 1.0, 100))
    merged = profile.merge([spread, constant], PROBS)
    # half the mass is spread over [0, 1], half sits at 5: below 0.5 the union's quantiles lie
    # in [0, 1], from 0.5 up they are 5
    assert all(0.0 <= q <= 1.0 for q, p in zip(merged["quantiles"], PROBS, strict=True) if p < 0.5)
    assert all(q == 5.0 for q, p in zip(merged["quantiles"], PROBS, strict=True) if p > 0.5)


def numpy_psi(a: list[int], e: list[int]) -> float:
    pa = np.maximum(np.array(a) / sum(a), profile.PSI_FLOOR)
    pe = np.maximum(np.array(e) / sum(e), profile.PSI_FLOOR)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


def test_psi_matches_numpy(rng: np.random.Generator) -> None:
    for shift in (0.0, 0.1, 0.5, 2.0):
        a = column(rng.normal(shift, 1.0, size=2000))["bins"]
        e = column(rng.normal(0.0, 1.0, size=3000))["bins"]
        assert profile.psi(a, e) == pytest.approx(numpy_psi(a, e), rel=1e-12)
    same = column(rng.normal(size=1000))["bins"]
    assert profile.psi(same, same) == 0.0
    # an empty bin on one side is floored, not infinite
    assert math.isfinite(profile.psi([0, 10, 0, 0, 0, 0, 0], [5, 5, 0, 0, 0, 0, 0]))


def test_ks_of_bins_is_the_binned_samples_d(rng: np.random.Generator) -> None:
    """On values that sit on the bin edges, the binned D is scipy's two-sample D exactly."""
    a = rng.choice(EDGES, size=500, p=[0.1, 0.1, 0.2, 0.3, 0.2, 0.1])
    e = rng.choice(EDGES, size=800)
    d = profile.ks_bins(column(a)["bins"], column(e)["bins"])
    assert d == pytest.approx(stats.ks_2samp(a, e).statistic, abs=1e-12)


def test_ks_of_quantiles_approximates_scipy(rng: np.random.Generator) -> None:
    for shift in (0.0, 0.3, 1.0):
        a = rng.normal(shift, 1.0, size=5000)
        e = rng.normal(0.0, 1.0, size=5000)
        d = profile.ks_quantiles(column(a), column(e), PROBS)
        assert d == pytest.approx(stats.ks_2samp(a, e).statistic, abs=0.03)
    same = column(rng.normal(size=100))
    assert profile.ks_quantiles(same, same, PROBS) == 0.0


def test_ks_sees_a_jump() -> None:
    """Two point masses apart: D is 1 (the gap is on one side of each jump)."""
    at = {"min": 1.0, "max": 1.0, "quantiles": [1.0] * len(PROBS)}
    other = {"min": 2.0, "max": 2.0, "quantiles": [2.0] * len(PROBS)}
    assert profile.ks_quantiles(at, other, PROBS) == 1.0


def test_mean_shift_in_reference_deviations(rng: np.random.Generator) -> None:
    a = column(rng.normal(3.0, 2.0, size=1000))
    e = column(rng.normal(0.0, 2.0, size=1000))
    expected = abs(a["mean"] - e["mean"]) / e["std"]
    assert profile.mean_shift(a, e) == pytest.approx(expected, rel=1e-12)
    flat = {"mean": 1.0, "std": 0.0}
    assert profile.mean_shift({"mean": 1.0}, flat) == 0.0
    assert profile.mean_shift({"mean": 1.5}, flat) == math.inf


def test_cdf_is_right_continuous_with_left_limits() -> None:
    xs, ps = [0.0, 1.0, 1.0, 2.0], [0.0, 0.25, 0.75, 1.0]
    assert profile.cdf(xs, ps, 1.0) == 0.75
    assert profile.cdf_before(xs, ps, 1.0) == 0.25
    assert profile.cdf(xs, ps, 0.5) == 0.125
    assert profile.cdf(xs, ps, -1.0) == 0.0
    assert profile.cdf(xs, ps, 2.0) == 1.0
    assert profile.cdf_before(xs, ps, 0.0) == 0.0
    assert profile.cdf_before(xs, ps, 2.5) == 1.0
    assert profile.cdf_before(xs, ps, 1.5) == 0.875
