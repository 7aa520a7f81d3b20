"""Data profiles and drift statistics (README "Drift"), pure and deterministic.

A column profile is a JSON object: `count` (non-null values), `nulls`, and when `count` > 0
`mean`, `std` (population), `min`, `max`, with `bins` (counts over the bin edges the dataset
policy declares, one more than there are edges: below the first edge, each [edge, next), from
the last edge up) or `quantiles` (values at the probabilities the policy declares), or both.

Merging is exact for counts, nulls, min, max and bins, and for the mean and standard deviation
up to floating point (the moments are combined by Chan's formula, in the window's arrival
order, so the same arrivals always give the same bits). Quantiles cannot be merged exactly:
each part is read as the piecewise-linear distribution through (min, 0), its quantiles and
(max, 1); the parts are mixed by count and the mixture is inverted at each probability.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any

Column = dict[str, Any]

#: the floor of a bin's share in the population stability index (an empty bin would make it
#: infinite); the common choice in credit-risk practice
PSI_FLOOR = 1e-4


def merge(parts: Sequence[Column], probs: Sequence[float] | None = None) -> Column:
    """One column's profile of the union of `parts` (quantiles at `probs`, if the parts have
    them). The parts' order is the window's arrival order: it fixes the floating point."""
    count = sum(int(p["count"]) for p in parts)
    nulls = sum(int(p["nulls"]) for p in parts)
    out: Column = {"count": count, "nulls": nulls}
    full = [p for p in parts if p["count"] > 0]
    if not full:
        return out
    mean = math.fsum(p["count"] * p["mean"] for p in full) / count
    m2 = math.fsum(p["count"] * (p["std"] ** 2 + (p["mean"] - mean) ** 2) for p in full)
    out["mean"] = mean
    out["std"] = math.sqrt(m2 / count)
    out["min"] = min(p["min"] for p in full)
    out["max"] = max(p["max"] for p in full)
    if all("bins" in p for p in full):  # a part of no values has all-zero bins, or none
        out["bins"] = [sum(col) for col in zip(*(p["bins"] for p in full), strict=True)]
    if probs is not None and all("quantiles" in p for p in full):
        if len(full) == 1:
            out["quantiles"] = list(full[0]["quantiles"])
        else:
            out["quantiles"] = _mixture_quantiles(full, count, probs)
    return out


def _knots(p: Column, probs: Sequence[float]) -> tuple[list[float], list[float]]:
    return [p["min"], *p["quantiles"], p["max"]], [0.0, *probs, 1.0]


def cdf(xs: Sequence[float], ps: Sequence[float], x: float) -> float:
    """The piecewise-linear distribution through (xs, ps) at x (right-continuous: where xs
    repeats a value, the distribution jumps there)."""
    if x < xs[0]:
        return 0.0
    if x >= xs[-1]:
        return 1.0
    j = bisect_right(xs, x)  # xs[j - 1] <= x < xs[j]
    x0, x1, p0, p1 = xs[j - 1], xs[j], ps[j - 1], ps[j]
    return p0 + (p1 - p0) * (x - x0) / (x1 - x0)


def cdf_before(xs: Sequence[float], ps: Sequence[float], x: float) -> float:
    """The same distribution's left limit at x (what it is just below x)."""
    if x <= xs[0]:
        return 0.0
    if x > xs[-1]:
        return 1.0
    j = bisect_left(xs, x)  # xs[j - 1] < x <= xs[j]
    x0, x1, p0, p1 = xs[j - 1], xs[j], ps[j - 1], ps[j]
    return p0 + (p1 - p0) * (x - x0) / (x1 - x0)


def _mixture_quantiles(parts: Sequence[Column], count: int, probs: Sequence[float]) -> list[float]:
    """The quantiles at `probs` of the count-weighted mixture of the parts' piecewise-linear
    distributions, in one sweep over their knots (O(k log k) for k knots in all): the mixture's
    slope changes, and it jumps where a part's knots repeat (a point mass)."""
    slope: dict[float, float] = {}  # x -> change of the mixture's slope at x
    jump: dict[float, float] = {}  # x -> the mixture's jump at x
    for p in parts:
        w = p["count"] / count
        xs, ps = _knots(p, probs)
        for x0, x1, p0, p1 in zip(xs, xs[1:], ps, ps[1:], strict=False):
            if p1 == p0:
                continue
            if x1 > x0:
                s = w * (p1 - p0) / (x1 - x0)
                slope[x0] = slope.get(x0, 0.0) + s
                slope[x1] = slope.get(x1, 0.0) - s
            else:
                jump[x0] = jump.get(x0, 0.0) + w * (p1 - p0)
    points = sorted({*slope, *jump})
    out: list[float] = []
    wanted = iter(probs)
    q = next(wanted, None)
    at, rate, previous = 0.0, 0.0, points[0]  # the mixture at `previous`, its slope after it
    for i, x in enumerate(points):
        before = at + rate * (x - previous) if i else 0.0  # its left limit at x
        while q is not None and before >= q and i:  # reached on (previous, x): interpolate
            out.append(previous + (q - at) * (x - previous) / (before - at))
            q = next(wanted, None)
        at = before + jump.get(x, 0.0)
        while q is not None and at >= q:  # reached by the jump at x
            out.append(x)
            q = next(wanted, None)
        rate += slope.get(x, 0.0)
        previous = x
    while q is not None:  # rounding left the mixture a hair below 1: the largest value
        out.append(points[-1])
        q = next(wanted, None)
    return out


# -- drift statistics ---------------------------------------------------------------------


def psi(bins: Sequence[int], reference: Sequence[int]) -> float:
    """Population stability index over the same bins: sum of (a - e) * ln(a / e) over the
    shares a (this window) and e (the reference), each floored at PSI_FLOOR."""
    n, m = sum(bins), sum(reference)
    total = 0.0
    for a_count, e_count in zip(bins, reference, strict=True):
        a = max(a_count / n, PSI_FLOOR)
        e = max(e_count / m, PSI_FLOOR)
        total += (a - e) * math.log(a / e)
    return total


def ks_bins(bins: Sequence[int], reference: Sequence[int]) -> float:
    """Kolmogorov-Smirnov's D of two binned samples: the largest gap between their cumulative
    shares at the bin edges (exact for the binned data)."""
    n, m = sum(bins), sum(reference)
    gap, a, e = 0.0, 0, 0
    for a_count, e_count in zip(bins[:-1], reference[:-1], strict=True):
        a += a_count
        e += e_count
        gap = max(gap, abs(a / n - e / m))
    return gap


def ks_quantiles(current: Column, reference: Column, probs: Sequence[float]) -> float:
    """Kolmogorov-Smirnov's D between the piecewise-linear distributions the two profiles'
    quantiles describe: the largest gap, found at their knots (on each side of a jump)."""
    xs, ps = _knots(current, probs)
    ys, rs = _knots(reference, probs)
    gap = 0.0
    for x in sorted({*xs, *ys}):
        gap = max(
            gap,
            abs(cdf(xs, ps, x) - cdf(ys, rs, x)),
            abs(cdf_before(xs, ps, x) - cdf_before(ys, rs, x)),
        )
    return gap


def mean_shift(current: Column, reference: Column) -> float:
    """How far this window's mean lies from the reference's, in reference standard deviations
    (a constant reference: 0 when the means are equal, infinite otherwise)."""
    delta = abs(current["mean"] - reference["mean"])
    if reference["std"] == 0:
        return 0.0 if delta == 0 else math.inf
    return float(delta / reference["std"])
