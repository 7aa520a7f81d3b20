"""The model gate and promotion: checks, hold, lineage, retraction, commands, triggers."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.contracts.events import CommandOverride, ModelUpdate
from orchestrator.core.access import signed
from orchestrator.core.effects import ChampionChanged, TrainingRequest
from orchestrator.core.modelgate import ModelGate
from orchestrator.core.promotion import TRANSITIONS, IllegalTransition, next_state
from tests.unit.modelgate_support import (
    AT,
    KEY_ALICE,
    KEY_BOB,
    NOW,
    SRC,
    W1,
    W2,
    W3,
    codes,
    data,
    decisions,
    gate,
    outcome,
    rollback,
    update,
)


def test_promote_makes_champion() -> None:
    """All checks pass and lineage is promoted: promote, and the version becomes champion."""
    g = gate()
    data(g, W1)
    effects = g.handle(update("v1"), SRC, AT)
    assert outcome(effects) == ("promote",)
    d = decisions(effects)[0]
    assert (d.subject.kind, d.subject.id, d.champion_before, d.champion_after) == (
        "model_version",
        "churn:v1",
        None,
        "v1",
    )
    assert [e for e in effects if isinstance(e, ChampionChanged)] == [
        ChampionChanged("churn", "v1", d.decision_id)
    ]
    assert d.inputs.event_ids == ["u-v1", f"d-{W1}-1"]


@pytest.mark.parametrize(
    ("metrics", "code"),
    [
        ({"auc": 0.8}, "E_METRIC_MISSING"),
        ({"auc": 0.6, "logloss": 0.4}, "E_METRIC_THRESHOLD"),
        ({"auc": 0.8, "logloss": 0.9}, "E_METRIC_THRESHOLD"),
    ],
)
def test_metric_checks(metrics: dict[str, float], code: str) -> None:
    """Missing metrics and thresholds reject with their codes."""
    g = gate()
    data(g, W1)
    u = ModelUpdate(
        event_id="u",
        model="churn",
        version="v1",
        artifact_uri="s3://m",
        artifact_digest="d",
        metrics=metrics,
        trained_on=[W1],
    )
    effects = g.handle(u, SRC, AT)
    assert outcome(effects) == ("reject",) and code in codes(effects)
    assert g.champion is None


@pytest.mark.parametrize(
    ("direction", "champion", "challenger", "result"),
    [
        ("max", {"auc": 0.80}, {"auc": 0.796}, "promote"),
        ("max", {"auc": 0.80}, {"auc": 0.794}, "reject"),
        ("min", {"logloss": 0.40}, {"logloss": 0.409}, "promote"),
        ("min", {"logloss": 0.40}, {"logloss": 0.42}, "reject"),
    ],
)
def test_regression_both_directions(
    direction: str, champion: dict[str, float], challenger: dict[str, float], result: str
) -> None:
    """No regression beyond the tolerance on the primary metric, in either direction."""
    g = gate(direction)
    data(g, W1)
    assert outcome(g.handle(update("v1", **champion), SRC, AT)) == ("promote",)  # type: ignore[arg-type]
    effects = g.handle(update("v2", **challenger), SRC, AT)  # type: ignore[arg-type]
    assert outcome(effects) == (result,)
    assert (result == "reject") == ("E_REGRESSION" in codes(effects))
    assert g.champion == ("v2" if result == "promote" else "v1")


def test_hold_then_promote_when_data_is_promoted() -> None:
    """Lineage not decided: hold; decided again (revision 2, supersedes) when the data decision arrives."""
    g = gate()
    held = g.handle(update("v1", trained_on=[W1, W2]), SRC, AT)
    assert outcome(held) == ("hold",) and "E_LINEAGE_PENDING" in codes(held)
    assert outcome(data(g, W1)) == ()  # still pending on W2: nothing new recorded
    effects = data(g, W2)
    assert outcome(effects) == ("promote",)
    d = decisions(effects)[0]
    assert d.revision == 2 and d.supersedes == decisions(held)[0].decision_id and g.champion == "v1"


def test_lineage_rejected_rejects() -> None:
    """A trained_on window whose latest data decision is reject rejects the model."""
    g = gate()
    data(g, W1, "reject")
    effects = g.handle(update("v1"), SRC, AT)
    assert outcome(effects) == ("reject",) and "E_LINEAGE_REJECTED" in codes(effects)


def test_retraction_rolls_back_to_newest_clean_champion() -> None:
    """A window revision turning promote into reject rolls the champion back to the newest earlier
    champion with clean lineage, and rejects other versions trained on it."""
    g = gate()
    for w in (W1, W2, W3):
        data(g, w)
    g.handle(update("v1", trained_on=[W1]), SRC, AT)
    g.handle(update("v2", trained_on=[W2]), SRC, AT)
    g.handle(update("v3", trained_on=[W2, W3]), SRC, AT)
    assert g.champion == "v3"
    effects = data(g, W2, "reject", rev=2)
    assert outcome(effects) == ("reject", "rollback")
    rejected, rollback = decisions(effects)
    assert rejected.subject.id == "churn:v2" and "E_LINEAGE_REJECTED" in [
        c.code for c in rejected.checks
    ]
    assert (rollback.subject.id, rollback.champion_before, rollback.champion_after) == (
        "churn:v3",
        "v3",
        "v1",
    )
    assert "E_LINEAGE_REJECTED" in [c.code for c in rollback.checks]
    assert g.champion == "v1"
    assert next(e for e in effects if isinstance(e, ChampionChanged)).version == "v1"


def test_illegal_transitions_raise_and_change_nothing() -> None:
    """Every (state, outcome) not in the table raises; the version keeps its state."""
    for state, allowed in TRANSITIONS.items():
        for outcome_ in (
            "hold",
            "promote",
            "reject",
            "rollback",
            "override_promote",
            "override_reject",
            "restore",
        ):
            if outcome_ in allowed:
                assert next_state(state, outcome_) == allowed[outcome_]
            else:
                with pytest.raises(IllegalTransition):
                    next_state(state, outcome_)
    g = gate()
    data(g, W1, "reject")
    g.handle(update("v1"), SRC, AT)
    v = g.versions["v1"]
    with pytest.raises(IllegalTransition):
        g.decide("v1", "rollback", [], AT, "rollback", before=None, after=None)
    assert (v.state, v.revision) == ("rejected", 1)


def test_same_inputs_same_decision_ids() -> None:
    """Two gates fed the same inputs record the same decision ids."""

    def run() -> list[str]:
        g = gate()
        ids = [
            d.decision_id for d in decisions(g.handle(update("v1", trained_on=[W1, W2]), SRC, AT))
        ]
        for w in (W1, W2):
            ids += [d.decision_id for d in decisions(data(g, w))]
        return ids

    assert run() == run() and len(run()) == 2


def two_champions() -> ModelGate:
    g = gate()
    data(g, W1)
    g.handle(update("v1"), SRC, AT)
    g.handle(update("v2", auc=0.81), SRC, AT)
    assert g.champion == "v2"
    return g


def test_signed_rollback_by_allowed_actor_is_applied() -> None:
    """A valid signature from an allowed actor restores the previous champion."""
    g = two_champions()
    effects = g.handle(rollback(), SRC, AT, None, NOW)
    assert outcome(effects) == ("rollback",)
    d = decisions(effects)[0]
    assert (d.subject.kind, d.champion_before, d.champion_after) == ("command", "v2", "v1")
    assert g.champion == "v1"


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: rollback(key=b"wrong-key"), "E_BAD_SIGNATURE"),
        (lambda: rollback().model_copy(update={"reason": "tampered"}), "E_BAD_SIGNATURE"),
        (lambda: rollback(actor="mallory", key=b"whatever"), "E_UNAUTHORIZED"),
        (
            lambda: rollback(actor="bob", key=KEY_BOB),
            "E_UNAUTHORIZED",
        ),  # bob may roll back fraud only
    ],
)
def test_bad_commands_are_denied_and_change_nothing(make: Any, code: str) -> None:
    """Wrong key, tampered field, unknown actor, actor allowed for another model: denied, audited."""
    g = two_champions()
    effects = g.handle(make(), SRC, AT, None, NOW)
    assert outcome(effects) == ("denied",) and code in codes(effects)
    assert g.champion == "v2"
    assert not [e for e in effects if isinstance(e, ChampionChanged)]


def test_override_forces_an_outcome() -> None:
    """An authorized override promotes a rejected version and records the justification."""
    g = gate()
    data(g, W1)
    g.handle(update("v1"), SRC, AT)
    g.handle(update("v2", auc=0.5), SRC, AT)  # rejected on threshold
    cmd = CommandOverride(
        event_id="o1",
        issued_at=AT,
        nonce=f"nonce-override-{'o1'}-xxxxxxxx",
        subject="churn:v2",
        outcome="promote",
        actor="alice",
        reason="hand-checked",
        signature="0",
    )
    cmd = signed(cmd, KEY_ALICE)
    effects = g.handle(cmd, SRC, AT, None, NOW)
    assert outcome(effects) == ("override",) and g.champion == "v2"
    assert decisions(effects)[0].subject.id == "churn:v2" and decisions(effects)[0].revision == 2


def test_retraining_trigger_every_n_promoted_windows() -> None:
    """After every N promoted windows of its datasets the model asks for retraining on them."""
    g = gate(retrain_every=2)
    requests = [
        e.request for w in (W1, W2, W3) for e in data(g, w) if isinstance(e, TrainingRequest)
    ]
    assert [r.windows for r in requests] == [[W1, W2]]
    assert not [
        e for e in data(g, W1, rev=2) if isinstance(e, TrainingRequest)
    ]  # a re-promotion is no new window


def test_snapshot_restore_round_trip() -> None:
    """A gate rebuilt from its snapshot decides exactly like the original."""
    import orjson

    g = two_champions()
    h = gate()
    for key, value in orjson.loads(orjson.dumps(g.entries())).items():
        kind, _, ident = key.split("\x1f", 2)
        h.restore(kind, ident, value)
    h.settle()
    a = g.handle(update("v3", auc=0.7), SRC, AT)
    b = h.handle(update("v3", auc=0.7), SRC, AT)
    assert [d.decision_id for d in decisions(a)] == [d.decision_id for d in decisions(b)]


def test_override_of_a_held_version() -> None:
    """An override may force a version that is still waiting for its lineage."""
    g = gate()
    g.handle(update("v1", trained_on=[W2]), SRC, AT)
    assert g.versions["v1"].state == "held"
    cmd = CommandOverride(
        event_id="o2",
        issued_at=AT,
        nonce=f"nonce-override-{'o2'}-xxxxxxxx",
        subject="churn:v1",
        outcome="promote",
        actor="alice",
        reason="urgent",
        signature="0",
    )
    cmd = signed(cmd, KEY_ALICE)
    assert outcome(g.handle(cmd, SRC, AT, None, NOW)) == ("override",)
    assert g.champion == "v1" and g.versions["v1"].state == "promoted"
    assert outcome(data(g, W2)) == ()  # no longer held: the data decision does not re-decide it
