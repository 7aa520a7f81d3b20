"""Drift checks of the data gate (README "Drift"): a window's merged profile against a reference
(the merged profile of the last k promoted windows, or one pinned window), per column and
statistic, every figure in the evidence."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.contracts.records import Check
from orchestrator.core import profile
from orchestrator.core.checks import Severity, check
from orchestrator.core.policy import ProfileColumn
from orchestrator.errors import E_DRIFT

Stat = Literal["psi", "ks", "mean_shift"]
#: promoted windows a `last: k` reference may span (their profiles are the gate's state)
MAX_DRIFT_HISTORY = 50


@dataclass(frozen=True, slots=True)
class DriftCheck:
    """One statistic of one column must stay at or below `max`."""

    column: str
    stat: Stat
    max: float
    severity: Severity = "warn"


@dataclass(frozen=True, slots=True)
class Drift:
    """The drift part of a dataset policy: the reference (`last` promoted windows, or the
    pinned `window`) and the checks."""

    last: int | None
    window: str | None
    checks: tuple[DriftCheck, ...]


def _figure(value: float) -> float | str:
    """A statistic as the evidence shows it: 6 decimals, or "inf" (JSON has no infinity)."""
    return round(value, 6) if math.isfinite(value) else "inf"


def statistic(
    stat: Stat, col: ProfileColumn, current: dict[str, Any], ref: dict[str, Any]
) -> float:
    """`stat` of the column between the window's profile and the reference's (both non-empty)."""
    if stat == "psi":
        return profile.psi(current["bins"], ref["bins"])
    if stat == "mean_shift":
        return profile.mean_shift(current, ref)
    if col.probs is not None and "quantiles" in current and "quantiles" in ref:
        return profile.ks_quantiles(current, ref, col.probs)
    return profile.ks_bins(current["bins"], ref["bins"])


def reference_of(
    columns: Sequence[ProfileColumn], windows: Sequence[tuple[str, dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    """The reference profile: per column, the merge of the windows' profiles (in their order)."""
    out = {}
    for col in columns:
        parts = [p[col.name] for _, p in windows if col.name in p]
        if parts:
            out[col.name] = profile.merge(parts, col.probs)
    return out


def drift_checks(
    spec: Drift,
    columns: Sequence[ProfileColumn],
    current: dict[str, dict[str, Any]],
    windows: Sequence[tuple[str, dict[str, Any]]],
) -> list[Check]:
    """One check per column and statistic. `windows`: the reference windows (id, merged
    profile), oldest first; none yet passes every check (there is nothing to drift from). A
    window without values in a checked column fails it: its drift cannot be judged."""
    by_name = {c.name: c for c in columns}
    ref = reference_of(columns, windows)
    out = []
    for c in spec.checks:
        name = f"drift.{c.column}.{c.stat}"
        expected = {"max": c.max}
        cur, base = current.get(c.column), ref.get(c.column)
        n = 0 if cur is None else cur["count"]
        m = 0 if base is None else base["count"]
        ids = [w for w, p in windows if c.column in p]  # the windows that hold the column
        observed: dict[str, Any] = {"count": n, "reference_count": m, "reference": ids}
        if base is None or m == 0:  # nothing to drift from yet
            out.append(check(name, True, c.severity, observed, expected, E_DRIFT))
        elif cur is None or n == 0:  # no values: the drift cannot be judged
            observed["value"] = None
            out.append(check(name, False, c.severity, observed, expected, E_DRIFT))
        else:
            value = statistic(c.stat, by_name[c.column], cur, base)
            observed["value"] = _figure(value)
            out.append(check(name, value <= c.max, c.severity, observed, expected, E_DRIFT))
    return out
