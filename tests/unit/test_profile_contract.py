"""The data profile on `data.arrival` (README "Drift"): what a column must hold to be one, and
its bounds (E_PROFILE_LIMIT: columns, bins and quantiles)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from orchestrator.contracts import decode
from orchestrator.contracts.events import MAX_PROFILE_COLUMNS, MAX_PROFILE_POINTS
from orchestrator.errors import E_PROFILE_LIMIT, E_SCHEMA, ContractError
from tests import factories

GOOD = {"count": 3, "nulls": 1, "mean": 1.0, "std": 0.5, "min": 0.0, "max": 2.0}


def arrival(profile: Any) -> bytes:
    return orjson.dumps(factories.arrival("a1", profile=profile))


def refused(profile: Any) -> ContractError:
    with pytest.raises(ContractError) as info:
        decode(arrival(profile))
    return info.value


def test_a_well_formed_profile_is_accepted_and_a_count_of_0_needs_nothing_else() -> None:
    event = decode(
        arrival({"x": {**GOOD, "bins": [1, 2], "quantiles": [0.5, 1.5]}, "y": {"count": 0}})
    )
    assert event.profile is not None  # type: ignore[union-attr]
    assert event.profile["y"].mean is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("column", "why"),
    [
        ({**GOOD, "quantiles": [1.5, 0.5]}, "non-decreasing"),
        ({**GOOD, "quantiles": [-1.0, 1.0]}, "between min and max"),
        ({**GOOD, "quantiles": [1.0, 3.0]}, "between min and max"),
        ({**GOOD, "min": 3.0}, "min is above max"),
        ({**GOOD, "bins": [1, 1]}, "the bins hold 2 values, count is 3"),
        ({"count": 2, "mean": 1.0}, "needs mean, std, min and max"),
        ({"count": 0, "mean": 1.0}, "has no mean"),
        ({"count": 0, "bins": [0, 1]}, "empty bins"),
        ({**GOOD, "std": -1.0}, "greater than or equal to 0"),
        ({**GOOD, "bins": [1.5, 1.5]}, "valid integer"),
        ({**GOOD, "mean": "1"}, "valid number"),
        ({**GOOD, "median": 1.0}, "Extra inputs"),
    ],
)
def test_a_column_that_is_not_a_profile_is_refused(column: dict[str, Any], why: str) -> None:
    error = refused({"x": column})
    assert error.code == E_SCHEMA
    assert why in error.message
    assert "profile.x" in error.message


@pytest.mark.parametrize(
    "profile",
    [
        {f"c{i}": {"count": 0} for i in range(MAX_PROFILE_COLUMNS + 1)},
        {
            "x": {
                **GOOD,
                "count": 0,
                "mean": None,
                "std": None,
                "min": None,
                "max": None,
                "bins": [0] * (MAX_PROFILE_POINTS + 2),
            }
        },
        {"x": {**GOOD, "quantiles": [1.0] * (MAX_PROFILE_POINTS + 1)}},
    ],
    ids=["columns", "bins", "quantiles"],
)
def test_a_profile_beyond_its_bounds_is_refused_with_its_own_code(profile: Any) -> None:
    error = refused(profile)
    assert error.code == E_PROFILE_LIMIT
    assert "at most" in error.message


def test_at_the_bounds_a_profile_is_accepted() -> None:
    columns = {f"c{i}": {"count": 0} for i in range(MAX_PROFILE_COLUMNS)}
    columns["c0"] = {
        **GOOD,
        "count": MAX_PROFILE_POINTS + 1,
        "bins": [1] * (MAX_PROFILE_POINTS + 1),
        "quantiles": [1.0] * MAX_PROFILE_POINTS,
    }
    assert decode(arrival(columns)).profile is not None  # type: ignore[union-attr]


def test_an_empty_profile_is_refused() -> None:
    assert refused({}).code == E_SCHEMA
