"""Source watermarks only move forward, and idle-source watermarks are due at exactly the
idle timeout (SPEC §3)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.core.idle import idle_watermarks
from orchestrator.core.policy import ORCHESTRATOR_SOURCE, DatasetSpec
from orchestrator.core.watermark import NEG_INF, Watermarks
from tests.conftest import examples

KEY = b"example-worker-key-tests-only"
IDLE = DatasetSpec(
    "clicks",
    window_ms=60_000,
    out_of_orderness_ms=0,
    allowed_lateness_ms=0,
    idle_timeout_ms=600_000,
)
NO_TIMEOUT = DatasetSpec("apples", window_ms=60_000, out_of_orderness_ms=0, allowed_lateness_ms=0)


@pytest.mark.parametrize(("candidate", "changed"), [(999, False), (1000, False), (1001, True)])
def test_source_watermark_changes_only_when_strictly_higher(candidate: int, changed: bool) -> None:
    """observe() is True only for a candidate above the source's watermark; equal is no change."""
    wms = Watermarks(frozenset())
    assert wms.observe("eu", 1000)
    assert wms.observe("eu", candidate) is changed
    assert (wms.sources, wms.value) == ({"eu": max(1000, candidate)}, max(1000, candidate))


def test_a_first_observation_sets_the_dataset_watermark() -> None:
    """With no required sources, the first source seen gives WM(D); before it, minus infinity."""
    wms = Watermarks(frozenset())
    assert wms.value == NEG_INF
    assert wms.observe("eu", -5)
    assert wms.value == -5


@pytest.mark.parametrize(
    ("idle_s", "due"),
    [
        (599.999, False),  # a millisecond short of the 10-minute timeout
        (600.0, True),  # exactly the timeout
    ],
)
def test_idle_watermark_is_due_at_exactly_the_timeout(idle_s: float, due: bool) -> None:
    """A dataset is idle once the wall clock is idle_timeout past its last event, not before."""
    now = 1_800_000_000.0
    out = idle_watermarks({"clicks": IDLE}, {"clicks": now - idle_s}, now, KEY)
    assert [w.dataset for w in out] == (["clicks"] if due else [])


@pytest.mark.parametrize(
    "skipped",
    [
        "aardvark",  # no policy for it (sorts before clicks)
        "apples",  # a policy without an idle timeout (sorts before clicks)
    ],
)
def test_datasets_without_an_idle_timeout_do_not_hide_later_ones(skipped: str) -> None:
    """A dataset seen without a policy or without an idle timeout is passed over, and datasets
    after it (in name order) still get their idle watermark."""
    specs = {"clicks": IDLE, "apples": NO_TIMEOUT}
    now = 1_800_000_000.0
    out = idle_watermarks(specs, {skipped: now - 9999, "clicks": now - 9999}, now, KEY)
    assert [w.dataset for w in out] == ["clicks"]


SOURCES = ("eu", "us", "ap", ORCHESTRATOR_SOURCE)


@settings(**examples(300))
@given(
    required=st.frozensets(st.sampled_from(SOURCES[:3])),
    observations=st.lists(
        st.tuples(st.sampled_from(SOURCES), st.integers(-(2**40), 2**40)), max_size=40
    ),
)
def test_the_dataset_watermark_is_the_spec_formula_and_never_goes_back(
    required: frozenset[str], observations: list[tuple[str, int]]
) -> None:
    """For any order of observations: each source's watermark is the max it was offered, WM(D)
    is SPEC §3's formula over them at every step (min over the required sources, else max over
    all; the orchestrator's idle watermark speaking for the dataset), and WM(D) never goes back."""
    wms = Watermarks(required)
    offered: dict[str, int] = {}
    before = wms.value
    for source, candidate in observations:
        changed = wms.observe(source, candidate)
        assert changed is (candidate > offered.get(source, NEG_INF))
        offered[source] = max(candidate, offered.get(source, NEG_INF))
        assert wms.sources == offered
        if required:
            formula = min(offered.get(s, NEG_INF) for s in required)
        else:
            formula = max(offered.values())
        formula = max(formula, offered.get(ORCHESTRATOR_SOURCE, NEG_INF))
        assert wms.value == formula
        assert wms.value >= before
        before = wms.value
