"""The model gate's state is kept per key and bounded: no changelog record grows with history,
and what the bounds forget is forgotten again by a restore (SPEC §3 bounds, issue #12)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
import pytest

from orchestrator.core.effects import (
    Decided,
    Effect,
    Rejected,
    StateDelete,
    StatePut,
    TrainingRequest,
)
from orchestrator.core.modelgate import SEP
from tests.unit.modelgate_support import (
    AT,
    SRC,
    W1,
    W2,
    W3,
    data,
    decisions,
    gate,
    restored,
    update,
)


def puts(effects: list[Effect]) -> dict[str, Any]:
    return {e.key: e.value for e in effects if isinstance(e, StatePut)}


def windows(n: int) -> list[str]:
    return [f"clicks/2026-11-{1 + i // 24:02d}T{i % 24:02d}:00:00Z/PT1H" for i in range(n)]


def test_no_changelog_record_grows_with_history() -> None:
    """Fifty versions trained on 500 windows each: every record written for the fiftieth is
    no larger than for the first (the fault report's model state passed 1 MiB at six)."""
    g = gate()
    lineage = windows(500)
    for w in lineage:
        data(g, w)
    sizes = []
    for i in range(50):
        effects = g.handle(update(f"v{i}", auc=0.8 + i / 1000, trained_on=lineage), SRC, AT)
        sizes.append(max(len(orjson.dumps(v)) for v in puts(effects).values()))
    assert sizes[-1] <= sizes[0] + 64, sizes
    assert sizes[0] < 64 * 1024


@pytest.mark.parametrize("retrain_every", [None, 3])
def test_the_model_record_does_not_grow_with_promoted_windows(retrain_every: int | None) -> None:
    """Promoted windows are counted only for `retrain_every`, and at most that many are kept:
    without it the model's record once grew by ~35 bytes per promoted window, for ever."""
    g = gate(retrain_every=retrain_every)
    sizes = []
    for w in windows(300):
        effects = data(g, w)
        sizes += [len(orjson.dumps(v)) for v in puts(effects).values()]
    assert len(g.promoted_windows) <= (retrain_every or 0)
    assert max(sizes, default=0) < 1024, max(sizes)


def test_versions_beyond_the_bound_are_forgotten_oldest_first() -> None:
    """max_versions 3: the oldest version outside the champion history is forgotten (its key
    deleted); the champion stays."""
    g = gate()
    g.spec = replace(g.spec, max_versions=3)
    data(g, W1)
    g.handle(update("v1"), SRC, AT)  # champion
    forgotten = []
    for v in ("v2", "v3", "v4"):
        effects = g.handle(update(v, auc=0.1), SRC, AT)  # rejected on threshold
        forgotten += [e.key.split(SEP)[2] for e in effects if isinstance(e, StateDelete)]
    assert sorted(g.versions) == ["v1", "v3", "v4"] and forgotten == ["v2"]
    assert g.champion == "v1"


def test_at_the_bound_with_nothing_to_forget_an_update_is_refused() -> None:
    """When every remembered version is held, a new one is refused (E_STATE_LIMIT, to the dlq
    with its event id) and nothing changes: it can be sent again later."""
    g = gate()
    g.spec = replace(g.spec, max_versions=2)
    g.handle(update("v1", trained_on=[W2]), SRC, AT)
    g.handle(update("v2", trained_on=[W3]), SRC, AT)
    before = g.entries()
    effects = g.handle(update("v3"), SRC, AT)
    assert [(e.code, e.event_id) for e in effects if isinstance(e, Rejected)] == [
        ("E_STATE_LIMIT", "u-v3")
    ]
    assert g.entries() == before
    data(g, W2, "reject")  # v1 is rejected: now there is something to forget
    assert [d.outcome for d in decisions(g.handle(update("v3"), SRC, AT))] == ["hold"]


def test_forgotten_windows_expire_lineage_instead_of_holding_it_for_ever() -> None:
    """max_windows 2: the earliest decided window is forgotten; a version trained on it is
    rejected with the window named as expired, not held waiting for a decision that came."""
    g = gate()
    g.spec = replace(g.spec, max_windows=2)
    for w in (W1, W2, W3):
        data(g, w)
    assert sorted(g.windows) == [W2, W3]
    (d,) = decisions(g.handle(update("v1", trained_on=[W1, W2]), SRC, AT))
    lineage = next(c for c in d.checks if c.name == "lineage")
    assert d.outcome == "reject" and lineage.code == "E_LINEAGE_REJECTED"
    assert lineage.observed["expired"] == [W1]


def test_event_ids_are_remembered_up_to_the_bound() -> None:
    """max_event_ids 2: a third id forgets the first; an exact repeat of a remembered update is
    a duplicate, a repeat of a forgotten one whose version is remembered is still no new version."""
    g = gate()
    g.spec = replace(g.spec, max_event_ids=2)
    data(g, W1)
    for v in ("v1", "v2", "v3"):
        g.handle(update(v, auc=0.5), SRC, AT)
    assert sorted(g.seen) == ["u-v2", "u-v3"]
    assert g.handle(update("v1", auc=0.5), SRC, AT) == []


def test_restore_forgets_what_the_bounds_forgot_even_without_tombstones() -> None:
    """The deletes of forgotten state may reach the changelog late: a restore from entries that
    still hold them forgets them by the same rule and decides identically."""
    g = gate()
    g.spec = replace(g.spec, max_versions=3, max_windows=2, max_event_ids=3)
    everything: dict[str, Any] = {}
    for w in (W1, W2):
        everything.update(puts(data(g, w)))
    for i in range(6):
        everything.update(puts(g.handle(update(f"v{i}", auc=0.8 - i / 100), SRC, AT)))
    everything.update(puts(data(g, W3)))
    h = restored(g, everything)  # every put, no delete
    assert h.entries() == g.entries()
    a = g.handle(update("v9", trained_on=[W2, W3]), SRC, AT)
    b = h.handle(update("v9", trained_on=[W2, W3]), SRC, AT)
    assert [x.decision.decision_id for x in a if isinstance(x, Decided)] == [
        x.decision.decision_id for x in b if isinstance(x, Decided)
    ]


def test_requested_windows_count_toward_no_later_request() -> None:
    """After a training request its windows are forgotten: restored from the changelog under a
    policy with another `retrain_every`, the next request names only windows promoted since."""
    g = gate(retrain_every=2)
    ws = windows(5)
    effects: list[Effect] = []
    for w in ws[:2]:
        effects += data(g, w)
    (first,) = [e.request for e in effects if isinstance(e, TrainingRequest)]
    assert first.windows == ws[:2]
    h = restored(g, puts(effects))
    h.spec = replace(h.spec, retrain_every=3)
    later: list[Effect] = []
    for w in ws[2:]:
        later += data(h, w)
    (second,) = [e.request for e in later if isinstance(e, TrainingRequest)]
    assert second.windows == ws[2:5]
