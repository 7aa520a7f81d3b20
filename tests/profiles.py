"""A producer's data profile of some values, computed with numpy (README "Drift"): what the
drift tests feed the worker and hold its figures against."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def column(values: np.ndarray, edges: Sequence[float], probs: Sequence[float]) -> dict[str, Any]:
    """count, mean, population std, min, max, counts over `edges` (below the first, each
    [edge, next), from the last up) and numpy's quantiles at `probs`."""
    below = np.searchsorted(edges, values, side="right")
    return {
        "count": int(values.size),
        "nulls": 0,
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "max": float(values.max()),
        "bins": np.bincount(below, minlength=len(edges) + 1).tolist(),
        "quantiles": np.quantile(values, probs).tolist(),
    }
