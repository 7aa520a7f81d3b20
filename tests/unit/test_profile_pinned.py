"""Data profiles (README "Drift") on small hand-computable inputs: exact merged figures, the
mixture quantiles across point masses, gaps and shared knots, the one-sided jumps of the
piecewise-linear distributions, and the refusal of bins that do not line up."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from orchestrator.core import profile

PROBS = [0.25, 0.5, 0.75]


def uniform(lo: float, hi: float, count: int) -> dict[str, Any]:
    """A part whose quantiles at PROBS are those of the uniform distribution on [lo, hi]."""
    span = hi - lo
    return {
        "count": count,
        "nulls": 0,
        "mean": (lo + hi) / 2,
        "std": span / math.sqrt(12),
        "min": lo,
        "max": hi,
        "quantiles": [lo + p * span for p in PROBS],
    }


def constant(value: float, count: int) -> dict[str, Any]:
    """A part whose values all equal `value`: a point mass."""
    return {
        "count": count,
        "nulls": 0,
        "mean": value,
        "std": 0.0,
        "min": value,
        "max": value,
        "quantiles": [value] * len(PROBS),
    }


def test_a_part_of_one_value_weighs_in_the_moments_extremes_and_bins() -> None:
    """A part with count 1 is a part like any other: the merge of [5] with [-1, 1, -1, 1] is
    the profile of the five values (mean 1, population std sqrt(24/5), bins over [0, 2])."""
    one: dict[str, Any] = {"count": 1, "nulls": 2, "mean": 5.0, "std": 0.0, "min": 5.0}
    one.update(max=5.0, bins=[0, 0, 1])
    four: dict[str, Any] = {"count": 4, "nulls": 0, "mean": 0.0, "std": 1.0, "min": -1.0}
    four.update(max=1.0, bins=[2, 2, 0])
    merged = profile.merge([four, one])
    values = np.array([-1.0, 1.0, -1.0, 1.0, 5.0])
    assert merged["count"] == 5
    assert merged["nulls"] == 2
    assert merged["mean"] == 1.0
    assert merged["std"] == pytest.approx(math.sqrt(24 / 5), rel=1e-15)
    assert merged["std"] == pytest.approx(float(values.std()), rel=1e-15)
    assert (merged["min"], merged["max"]) == (-1.0, 5.0)
    assert merged["bins"] == [2, 2, 1]


def test_quantiles_are_merged_only_with_probabilities_and_when_every_part_has_them() -> None:
    """Without `probs` the merge has no quantiles even if the parts carry some (one part or
    several); with `probs`, a part that has values but no quantiles leaves the merge without
    any (bins still merge)."""
    a, b = uniform(0.0, 1.0, 2), uniform(1.0, 3.0, 2)
    assert "quantiles" not in profile.merge([a])
    assert "quantiles" not in profile.merge([a, b])
    bare = {k: v for k, v in b.items() if k != "quantiles"}
    assert "quantiles" not in profile.merge([a, bare], PROBS)
    assert "quantiles" not in profile.merge([bare], PROBS)
    assert profile.merge([a, b], PROBS)["quantiles"] == [0.5, 1.0, 2.0]


def test_bins_of_different_lengths_are_refused_not_truncated() -> None:
    """Bins are counts over the same declared edges: parts, or a window and its reference,
    whose bin counts differ in number were not profiled alike, and merge, PSI and the binned
    KS refuse them (ValueError) instead of comparing a prefix."""
    a = {"count": 3, "nulls": 0, "mean": 0.0, "std": 1.0, "min": -1.0, "max": 1.0}
    short, long = dict(a, bins=[1, 2]), dict(a, bins=[1, 2, 0])
    with pytest.raises(ValueError, match="zip"):
        profile.merge([long, short])
    with pytest.raises(ValueError, match="zip"):
        profile.merge([short, long])
    for stat in (profile.psi, profile.ks_bins):
        with pytest.raises(ValueError, match="zip"):
            stat([1, 2, 0], [1, 2])
        with pytest.raises(ValueError, match="zip"):
            stat([1, 2], [1, 2, 0])


def test_psi_floors_an_empty_bin_at_its_documented_share() -> None:
    """PSI of [0, 4] against [2, 2]: the empty bin's share is floored at 1e-4, so the index is
    (1e-4 - 0.5) ln(1e-4 / 0.5) + (1 - 0.5) ln(1 / 0.5)."""
    expected = (1e-4 - 0.5) * math.log(1e-4 / 0.5) + 0.5 * math.log(2.0)
    assert profile.psi([0, 4], [2, 2]) == pytest.approx(expected, rel=1e-15)


def test_the_distribution_jumps_at_a_repeated_minimum_and_maximum() -> None:
    """Half the mass at the minimum: the distribution is already 1/2 at it (right-continuous,
    0 just below). Half the mass at the maximum: just below it the distribution is 1/2, at it
    1."""
    at_min = ([1.0, 1.0, 2.0], [0.0, 0.5, 1.0])
    assert profile.cdf(*at_min, 1.0) == 0.5
    assert profile.cdf_before(*at_min, 1.0) == 0.0
    assert profile.cdf(*at_min, 1.5) == 0.75
    at_max = ([0.0, 1.0, 1.0], [0.0, 0.5, 1.0])
    assert profile.cdf_before(*at_max, 1.0) == 0.5
    assert profile.cdf(*at_max, 1.0) == 1.0
    assert profile.cdf_before(*at_max, 0.5) == 0.25


def test_ks_takes_the_gap_on_whichever_side_of_a_jump_it_lies() -> None:
    """A point mass at the top of a uniform reference on [0, 1]: the gap is 1 just below the
    jump (left limits), only 0.75 at the other knots. A point mass at the bottom: the gap is 1
    at the jump itself (right-continuous values), 0.75 just below the next knot."""
    reference = uniform(0.0, 1.0, 4)
    assert profile.ks_quantiles(constant(1.0, 4), reference, PROBS) == 1.0
    assert profile.ks_quantiles(constant(0.0, 4), reference, PROBS) == 1.0
    assert profile.ks_quantiles(reference, constant(1.0, 4), PROBS) == 1.0


def test_mixture_quantiles_across_a_point_mass_between_gaps() -> None:
    """Mass 1/4 uniform on [0, 1], 1/4 at 2, 1/2 uniform on [3, 4]: the mixture climbs to 1/4
    at 1, stays there up to 2, jumps to 1/2 at 2, stays there up to 3 and climbs to 1 at 4;
    its quantiles at 1/4, 1/2, 3/4 are 1, 2 (the jump reaches 1/2 exactly, and flat ground
    follows) and 3.5."""
    parts = [uniform(0.0, 1.0, 1), constant(2.0, 1), uniform(3.0, 4.0, 2)]
    merged = profile.merge(parts, PROBS)
    assert merged["quantiles"] == [1.0, 2.0, 3.5]
    assert (merged["min"], merged["max"], merged["count"]) == (0.0, 4.0, 4)


def test_mixture_quantiles_where_a_part_ends_on_a_knot_of_another() -> None:
    """3/4 of the mass spread over [0, 8] with quantiles 1, 2, 4 (density 3/16 on [0, 2],
    3/32 on [2, 4], 3/64 on [4, 8]) and 1/4 uniform on [0, 2], which ends where the first
    part's density changes: the mixture has density 5/16 on [0, 2] (5/8 at 2), then 3/32, so
    its quantiles are 0.8, 1.6 and 2 + (1/8) / (3/32) = 10/3."""
    spread = {**uniform(0.0, 8.0, 3), "quantiles": [1.0, 2.0, 4.0]}
    merged = profile.merge([spread, uniform(0.0, 2.0, 1)], PROBS)
    assert merged["quantiles"] == pytest.approx([0.8, 1.6, 10 / 3], rel=1e-12)


def test_point_masses_at_one_value_merge_to_that_value() -> None:
    """Parts that are all the same constant: the mixture is one jump at it, every quantile is
    that value."""
    merged = profile.merge([constant(2.0, 1), constant(2.0, 3)], PROBS)
    assert merged["quantiles"] == [2.0, 2.0, 2.0]
    assert (merged["mean"], merged["std"]) == (2.0, 0.0)


def test_probabilities_a_hair_below_one_give_the_largest_value() -> None:
    """At probabilities within an ulp or two of 1 floating point may leave the swept mixture
    short of them (here it does): each still gets a quantile, the largest value (the true one
    lies within 1e-14 of it)."""
    probs = [0.5, 1 - 2**-52, 1 - 2**-53]
    low: dict[str, Any] = {"count": 1, "min": 0.0, "max": 1.0, "quantiles": [0.5, 1.0, 1.0]}
    high: dict[str, Any] = {"count": 2, "min": 0.0, "max": 10.0, "quantiles": [5.0, 10.0, 10.0]}
    for p in (low, high):
        p.update(nulls=0, mean=p["quantiles"][0], std=1.0)
    merged = profile.merge([low, high], probs)
    assert len(merged["quantiles"]) == 3
    # mass 1/3 uniform on [0, 1], 2/3 uniform on [0, 10]: 1/3 + 1/15 lies below 1, then the
    # density is 1/15, so the median is 1 + (1/2 - 2/5) * 15 = 2.5
    assert merged["quantiles"][0] == pytest.approx(2.5, rel=1e-12)
    assert merged["quantiles"][1:] == pytest.approx([10.0, 10.0], abs=1e-12)
    assert all(isinstance(q, float | int) and q <= 10.0 for q in merged["quantiles"])
