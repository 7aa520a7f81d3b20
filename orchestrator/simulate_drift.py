"""The simulator's data profiles and its drift phase (README "Drift").

Each arrival of a dataset whose policy declares `profile` columns carries a profile computed
from values drawn for it (seeded: the same seed, the same profiles): per column a normal
distribution of its own (from the column's name), and in the drift phase the same one shifted
by `SHIFT` standard deviations. The drift phase opens windows after everything the close phase
fired, fills them with shifted arrivals and fires them with source watermarks; the drift checks
fail (or warn), and a model whose policy has `retrain_on.drift` for the dataset asks for
retraining."""

from __future__ import annotations

import math
import random
from typing import Any

from orchestrator.core.policy import DatasetSpec, ProfileColumn
from orchestrator.core.timeutil import format_rfc3339_ms
from orchestrator.policies import Policies

#: values drawn per arrival for its profile, at most (a profile summarizes them)
SAMPLE = 400
#: how far the drift phase moves each column's mean, in its standard deviations
SHIFT = 1.5


def _base(col: ProfileColumn) -> tuple[float, float]:
    """The column's mean and standard deviation: around the middle of its declared bin edges,
    a sixth of their span wide (so that the bins see the whole of it); 0 and 1 without bins."""
    if not col.edges:
        return 0.0, 1.0
    mid = len(col.edges) // 2
    middle = (
        (col.edges[mid - 1] + col.edges[mid]) / 2 if len(col.edges) % 2 == 0 else col.edges[mid]
    )
    return middle, max((col.edges[-1] - col.edges[0]) / 6, 1e-9)


def _quantile(ordered: list[float], q: float) -> float:
    """numpy's default (linear) quantile of sorted values."""
    at = q * (len(ordered) - 1)
    lo = math.floor(at)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (at - lo)


def column_profile(col: ProfileColumn, values: list[float]) -> dict[str, Any]:
    """The profile a producer would send for these values."""
    n = len(values)
    mean = math.fsum(values) / n
    out: dict[str, Any] = {
        "count": n,
        "nulls": 0,
        "mean": mean,
        "std": math.sqrt(math.fsum((v - mean) ** 2 for v in values) / n),
        "min": min(values),
        "max": max(values),
    }
    if col.edges is not None:
        bins = [0] * (len(col.edges) + 1)
        for v in values:
            bins[sum(1 for e in col.edges if v >= e)] += 1
        out["bins"] = bins
    if col.probs is not None:
        ordered = sorted(values)
        out["quantiles"] = [_quantile(ordered, q) for q in col.probs]
    return out


def profile(
    spec: DatasetSpec, rng: random.Random, n: int, shift: float = 0.0
) -> dict[str, Any] | None:
    """A profile of `n` records (SAMPLE of them drawn) of the dataset's declared columns."""
    if not spec.profile:
        return None
    out = {}
    for col in spec.profile:
        mu, sigma = _base(col)
        values = [rng.gauss(mu + shift * sigma, sigma) for _ in range(min(n, SAMPLE))]
        out[col.name] = column_profile(col, values)
    return out


def add_profiles(
    events: list[dict[str, Any]], specs: dict[str, DatasetSpec], shift: float = 0.0
) -> None:
    """Give every arrival of a dataset with profile columns its profile (drawn from its own
    seeded generator: the rest of the stream is what it is without profiles)."""
    for e in events:
        spec = specs.get(e.get("dataset", ""))
        if e.get("type") == "data.arrival" and spec is not None and spec.profile:
            rng = random.Random(f"profile:{e['event_id']}")
            e["profile"] = profile(spec, rng, max(int(e["record_count"]), 1), shift)


def drift_phase(
    policies: Policies, specs: dict[str, DatasetSpec], after_ms: int
) -> list[dict[str, Any]]:
    """Shifted arrivals in two windows from the first window start at or after `after_ms` of
    each drifting dataset, and the source watermarks that fire them."""
    events: list[dict[str, Any]] = []
    for ds in drifting(policies):
        spec = specs[ds]
        w = spec.window_ms
        start = -(-after_ms // w) * w
        sources = sorted(spec.required_sources) or ["main"]
        for k in range(2):
            for src in sources:
                for i in range(3):
                    eid = f"{ds}-drift-{k}-{src}-{i}"
                    et = start + k * w + (i + 1) * w // 4
                    events.append(
                        {
                            "type": "data.arrival",
                            "v": 1,
                            "event_id": eid,
                            "dataset": ds,
                            "source": src,
                            "event_time": format_rfc3339_ms(et),
                            "uri": f"s3://lake/{ds}/{eid}.parquet",
                            "record_count": 100 + 10 * i,
                            "checksum": f"sha256:{eid}",
                            "schema_fingerprint": f"sha256:{ds}-v1",
                        }
                    )
        add_profiles(events, specs, SHIFT)
        events += [
            {
                "type": "data.watermark",
                "v": 1,
                "event_id": f"{ds}-drift-wm-{src}",
                "dataset": ds,
                "source": src,
                "watermark": format_rfc3339_ms(start + 2 * w),
            }
            for src in sources
        ]
    return events


def drifting(policies: Policies) -> list[str]:
    """Datasets whose policy has drift checks and that a model retrains on when they drift."""
    specs = policies.datasets
    asked = {
        ds
        for m in policies.models.values()
        if m.retrain_on is not None and m.retrain_on.drift is not None
        for ds in m.retrain_on.drift.datasets
    }
    return sorted(ds for ds, p in specs.items() if p.drift is not None and ds in asked)
