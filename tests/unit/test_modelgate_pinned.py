"""Model-gate behaviour pinned down where mutation testing found no test looking: the fields of
every decision and champion change, lineage evidence, history order, and the state staged for
the changelog."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from orchestrator.contracts.events import ModelUpdate
from orchestrator.contracts.modellog import DataNotice
from orchestrator.core.effects import (
    ChampionChanged,
    Effect,
    StateDelete,
    StatePut,
    TrainingRequest,
)
from orchestrator.core.modelgate import SEP, ModelGate, PrimaryMetric
from orchestrator.core.modelpartition import ModelPartition
from orchestrator.core.modelstate import COMMAND_SKEW_MS
from orchestrator.core.promotion import IllegalTransition, next_state
from tests.unit.modelgate_support import (
    AGE,
    AT,
    NOW,
    SRC,
    W1,
    W2,
    W3,
    T,
    data,
    decisions,
    gate,
    outcome,
    override,
    restored,
    rollback,
    rollback_at,
    three_champions,
    update,
)

LATER = AT + timedelta(hours=1)
W4 = "clicks/2026-11-23T13:00:00Z/PT1H"


def key(kind: str, ident: str = "") -> str:
    return f"{kind}{SEP}churn{SEP}{ident}"


def staged(effects: list[Effect]) -> tuple[set[str], set[str]]:
    """The keys an input stages: (puts, deletes)."""
    puts = {e.key for e in effects if isinstance(e, StatePut)}
    deletes = {e.key for e in effects if isinstance(e, StateDelete)}
    return puts, deletes


def data_notice(window: str, verdict: str, rev: int) -> DataNotice:
    return DataNotice(
        window_id=window, outcome=verdict, decision_id=f"d-{window}-{rev}", source=SRC
    )


def failing(d: Any) -> list[tuple[str, str]]:
    return [(c.name, c.code) for c in d.checks if not c.passed]


# -- checks and their evidence ----------------------------------------------------------------


def test_a_required_metric_without_a_threshold_is_checked_on_its_own() -> None:
    """A metric the policy requires but sets no threshold for: its absence alone rejects, on
    the required_metrics check with E_METRIC_MISSING."""
    g = gate()
    g.spec = replace(g.spec, required_metrics=("auc", "logloss", "f1"))
    data(g, W1)
    (d,) = decisions(g.handle(update("v1"), SRC, AT))
    assert d.outcome == "reject"
    assert failing(d) == [("required_metrics", "E_METRIC_MISSING")]


def test_a_window_of_a_dataset_the_policy_does_not_list_is_named_as_rejected() -> None:
    g = gate()
    foreign = "views/2026-11-23T10:00:00Z/PT1H"
    (d,) = decisions(g.handle(update("v1", trained_on=[foreign]), SRC, AT))
    lineage = next(c for c in d.checks if c.name == "lineage")
    assert d.outcome == "reject"
    assert (lineage.code, lineage.observed) == (
        "E_LINEAGE_REJECTED",
        {"rejected": [foreign], "pending": []},
    )


def test_an_expired_window_is_named_as_rejected_and_expired() -> None:
    g = gate()
    g.spec = replace(g.spec, max_windows=2)
    for w in (W1, W2, W3):
        data(g, w)
    (d,) = decisions(g.handle(update("v1", trained_on=[W1, W2]), SRC, AT))
    lineage = next(c for c in d.checks if c.name == "lineage")
    assert lineage.observed == {"rejected": [W1], "pending": [], "expired": [W1]}


# -- what each decision records --------------------------------------------------------------


@pytest.mark.parametrize(
    ("challenger", "verdict", "after"),
    [
        (update("v2", auc=0.5), "reject", "v1"),
        (update("v2", trained_on=[W2]), "hold", "v1"),
        (update("v2", auc=0.81), "promote", "v2"),
    ],
)
def test_a_decision_records_its_time_and_the_champion_before_and_after(
    challenger: Any, verdict: str, after: str
) -> None:
    """With v1 champion, a new version's decision names v1 before, the resulting champion
    after, and the time it was decided at."""
    g = gate()
    data(g, W1)
    g.handle(update("v1"), SRC, AT)
    (d,) = decisions(g.handle(challenger, SRC, LATER))
    assert (d.outcome, d.champion_before, d.champion_after, d.decided_at) == (
        verdict,
        "v1",
        after,
        LATER,
    )


def test_a_retracted_version_that_is_not_champion_is_rejected_leaving_the_champion() -> None:
    """v2's window turns reject while v3 is champion: v2 is rejected, the record says v3
    before and after, at the time of the retraction."""
    g = three_champions()
    (d,) = decisions(g.handle(data_notice(W2, "reject", 2), SRC, LATER))
    assert (d.subject.id, d.outcome, d.champion_before, d.champion_after, d.decided_at) == (
        "churn:v2",
        "reject",
        "v3",
        "v3",
        LATER,
    )
    assert g.champion == "v3"


def retract_champion(g: ModelGate) -> list[Effect]:
    return data(g, W3, "reject", rev=2)


def retract_last_champion(_: ModelGate) -> list[Effect]:
    """A gate of its own, with one champion and nothing to fall back to."""
    g2 = gate()
    data(g2, W1)
    g2.handle(update("v1"), SRC, AT)
    return data(g2, W1, "reject", rev=2)


def oversee(g: ModelGate, subject: str, verdict: str) -> list[Effect]:
    return g.handle(override(subject, verdict), SRC, AT, None, NOW)


@pytest.mark.parametrize(
    ("act", "champion"),
    [
        (retract_champion, "v2"),
        (retract_last_champion, None),
        (lambda g: g.handle(rollback(), SRC, AT, None, NOW), "v2"),
        (lambda g: g.handle(rollback(to_version="v1"), SRC, AT, None, NOW), "v1"),
        (lambda g: oversee(g, "churn:v1", "promote"), "v1"),
        (lambda g: oversee(g, "churn:v3", "reject"), "v2"),
    ],
    ids=["retraction", "retraction-none", "rollback", "rollback-to", "override", "override-out"],
)
def test_a_champion_change_names_the_model_the_version_and_its_decision(
    act: Callable[[ModelGate], list[Effect]], champion: str | None
) -> None:
    """Every path that moves the champion says so for the model, with the new champion and
    the id of the decision that moved it (the audit link of models.champions)."""
    effects = act(three_champions())
    moved = decisions(effects)[-1]
    assert [e for e in effects if isinstance(e, ChampionChanged)] == [
        ChampionChanged("churn", champion, moved.decision_id)
    ]


def test_a_window_promoted_again_moves_no_champion() -> None:
    """A new revision of a promoted window that promotes again retracts nothing."""
    g = three_champions()
    effects = data(g, W3, "promote", rev=2)
    assert outcome(effects) == () and g.champion == "v3"
    assert not [e for e in effects if isinstance(e, ChampionChanged)]


def test_the_fallback_is_the_latest_crowned_not_the_last_by_name() -> None:
    """Champions crowned c, a, b: retracting b falls back to a, crowned after c."""
    g = gate()
    for w in (W1, W2, W3):
        data(g, w)
    for name, auc, w in (("c", 0.80, W1), ("a", 0.81, W2), ("b", 0.82, W3)):
        g.handle(update(name, auc=auc, trained_on=[w]), SRC, AT)
    assert g.champion == "b"
    effects = data(g, W3, "reject", rev=2)
    assert [e.version for e in effects if isinstance(e, ChampionChanged)] == ["a"]


def test_an_override_names_a_version_whose_name_has_a_colon() -> None:
    """The subject is model:version split at the first colon; the version may hold more."""
    g = gate()
    data(g, W1)
    g.handle(update("v:2", auc=0.5), SRC, AT)  # rejected on threshold
    effects = oversee(g, "churn:v:2", "promote")
    assert outcome(effects) == ("override",) and g.champion == "v:2"


def test_an_illegal_transition_names_the_outcome_and_the_state() -> None:
    """The message reaches the dlq record of the input that hit our bug (E_INTERNAL)."""
    with pytest.raises(IllegalTransition) as raised:
        next_state("rejected", "rollback")
    assert str(raised.value) == "'rollback' is not allowed from state 'rejected'"


def test_each_retraining_request_has_its_own_id_and_the_same_one_on_replay() -> None:
    def requests() -> list[Any]:
        g = gate(retrain_every=2)
        return [
            e.request
            for w in (W1, W2, W3, W4)
            for e in data(g, w)
            if isinstance(e, TrainingRequest)
        ]

    first, second = requests()
    assert first.request_id != second.request_id
    assert [r.request_id for r in requests()] == [first.request_id, second.request_id]


# -- the state staged for the changelog ------------------------------------------------------


def test_a_command_stages_the_model_record_its_event_id_and_its_nonce() -> None:
    """A rollback judged against broker time stages the model's record, the command's event id
    (in the command memory), the nonce and the two versions it moved; nothing else, and no
    delete."""
    g = three_champions()
    now = int(T.timestamp() * 1000)
    effects = g.handle(rollback_at(T, "n" * 16, "c1"), SRC, AT, None, now)
    assert outcome(effects) == ("rollback",)
    assert staged(effects) == (
        {key("m"), key("c", "c1"), key("n", "n" * 16), key("v", "v3"), key("v", "v2")},
        set(),
    )


def forget_a_nonce(g: ModelGate) -> list[Effect]:
    now = int(T.timestamp() * 1000)
    g.handle(rollback_at(T, "a" * 16, "c1"), SRC, AT, None, now)
    after = AGE + COMMAND_SKEW_MS + 5000
    later = T + timedelta(milliseconds=after)
    return g.handle(rollback_at(later, "b" * 16, "c2"), SRC, AT, None, now + after)


def forget_a_version(g: ModelGate) -> list[Effect]:
    g.spec = replace(g.spec, max_versions=3)
    data(g, W3, "reject", rev=2)  # v3 leaves the champion history
    return g.handle(update("v4", auc=0.5), SRC, AT)


def forget_a_window(g: ModelGate) -> list[Effect]:
    g.spec = replace(g.spec, max_windows=3)
    return data(g, W4)


@pytest.mark.parametrize(
    ("forget", "gone"),
    [
        (forget_a_nonce, {key("n", "a" * 16), key("c", "c1")}),
        (forget_a_version, {key("v", "v3")}),
        (forget_a_window, {key("w", W1)}),
    ],
    ids=["nonce", "version", "window"],
)
def test_what_a_bound_forgets_is_deleted_under_its_own_key(
    forget: Callable[[ModelGate], list[Effect]], gone: set[str]
) -> None:
    """A command (its nonce and event id) past max_command_age + skew, a version past
    max_versions, a window past max_windows: each is deleted from the changelog under the key
    it was written with."""
    _, deletes = staged(forget(three_champions()))
    assert deletes == gone


def test_versions_are_forgotten_in_arrival_order_after_a_restore() -> None:
    """The shell hands state back sorted by key: a restored gate still forgets the version
    that arrived first (zz), not the first by name (aa)."""
    g = gate()
    g.spec = replace(g.spec, max_versions=3)
    data(g, W1)
    g.handle(update("v1"), SRC, AT)  # champion: never forgotten
    for name in ("zz", "aa"):
        g.handle(update(name, auc=0.5), SRC, AT)  # rejected on threshold
    h = restored(g, dict(sorted(g.entries().items())))
    h.handle(update("v4", auc=0.5), SRC, AT)
    assert sorted(h.versions) == ["aa", "v1", "v4"]


def test_ids_holding_the_key_separator_survive_a_restore() -> None:
    """Names and ids are free text: one holding the separator of state keys comes back whole."""
    spec, access = gate().spec, gate().access
    p = ModelPartition({"churn": spec}, access, "t")
    u = ModelUpdate.model_validate(
        {**update("v1").model_dump(), "event_id": f"u{SEP}1", "version": f"v{SEP}1"}
    )
    p.handle("churn", u, SRC, 0, AT)
    q = ModelPartition.restore({"churn": spec}, access, "t", sorted(p.snapshot().items()))
    assert q.snapshot() == p.snapshot()
    assert f"v{SEP}1" in q.gates["churn"].versions


@pytest.mark.parametrize("with_champion", [False, True], ids=["first-version", "challenger"])
def test_a_version_without_its_primary_metric_fails_the_regression_check(
    with_champion: bool,
) -> None:
    """The primary metric is not among the required ones and no threshold names it: only the
    regression check can see it missing. It fails with E_METRIC_MISSING (observed None), with or
    without a champion to compare with, and the version is rejected."""
    g = gate()
    g.spec = replace(g.spec, primary=PrimaryMetric("f1", "max", 0.01))
    data(g, W1)
    if with_champion:
        assert outcome(g.handle(update("v1", f1=0.9), SRC, AT)) == ("promote",)
    effects = g.handle(update("v2"), SRC, AT)
    assert outcome(effects) == ("reject",)
    (regression,) = (c for c in decisions(effects)[0].checks if c.name == "regression")
    assert (regression.passed, regression.code, regression.observed) == (
        False,
        "E_METRIC_MISSING",
        None,
    )
    assert g.champion == ("v1" if with_champion else None)
