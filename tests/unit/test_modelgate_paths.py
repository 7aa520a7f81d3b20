"""Model-gate paths beyond the common ones, and the partition's input position."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from orchestrator.contracts.modellog import DataNotice
from orchestrator.contracts.records import SourceOffset
from orchestrator.core.effects import ChampionChanged, Rejected, StatePut, TrainingRequest
from orchestrator.core.modelpartition import ModelPartition
from orchestrator.core.modelstate import COMMAND_SKEW_MS
from orchestrator.core.position import POSITION_KEY
from tests.unit.modelgate_support import (
    AGE,
    AT,
    NOW,
    SRC,
    W1,
    W2,
    W3,
    T,
    codes,
    data,
    decisions,
    gate,
    outcome,
    override,
    rollback,
    rollback_at,
    three_champions,
    update,
)


def champions(effects: list[Any]) -> list[str | None]:
    return [e.version for e in effects if isinstance(e, ChampionChanged)]


def test_override_reject_of_the_champion_falls_back() -> None:
    """Forcing the champion out makes the newest earlier clean champion champion again."""
    g = three_champions()
    effects = g.handle(override("churn:v3", "reject"), SRC, AT, None, NOW)
    (d,) = decisions(effects)
    assert d.outcome == "override" and (d.champion_before, d.champion_after) == ("v3", "v2")
    assert champions(effects) == ["v2"] and g.champion == "v2"
    assert g.versions["v3"].state == "rejected"


def test_override_reject_of_another_version_leaves_the_champion() -> None:
    g = three_champions()
    effects = g.handle(override("churn:v1", "reject"), SRC, AT, None, NOW)
    assert champions(effects) == [] and g.champion == "v3"
    assert g.versions["v1"].state == "rejected"


def test_rollback_to_a_named_version() -> None:
    """`to_version` skips the newest earlier champion and crowns the one named."""
    g = three_champions()
    effects = g.handle(rollback(to_version="v1"), SRC, AT, None, NOW)
    (d,) = decisions(effects)
    assert (d.outcome, d.champion_before, d.champion_after) == ("rollback", "v3", "v1")
    assert g.champion == "v1" and g.versions["v3"].state == "rolled_back"


def test_rollback_to_a_version_that_cannot_serve_is_denied() -> None:
    """An unknown version, or the champion itself: denied, nothing changes."""
    for target in ("v9", "v3"):
        g = three_champions()
        effects = g.handle(rollback(to_version=target), SRC, AT, None, NOW)
        assert outcome(effects) == ("denied",) and "E_NO_ROLLBACK_TARGET" in codes(effects)
        assert g.champion == "v3" and champions(effects) == []


def test_rollback_with_no_earlier_champion_is_denied() -> None:
    g = gate()
    data(g, W1)
    g.handle(update("v1"), SRC, AT)
    effects = g.handle(rollback(), SRC, AT, None, NOW)
    assert outcome(effects) == ("denied",) and "E_NO_ROLLBACK_TARGET" in codes(effects)
    assert g.champion == "v1"


def test_fallback_takes_the_newest_of_two_eligible_earlier_champions() -> None:
    """With v1 and v2 both clean earlier champions, a retraction of v3 falls back to v2; a
    retraction of v2 then falls back to v1."""
    g = three_champions()
    assert champions(data(g, W3, "reject", rev=2)) == ["v2"]
    assert champions(data(g, W2, "reject", rev=2)) == ["v1"]


def test_fallback_skips_an_earlier_champion_whose_lineage_is_rejected() -> None:
    g = three_champions()
    data(g, W2, "reject", rev=2)  # v2 (not champion) is rejected
    assert champions(data(g, W3, "reject", rev=2)) == ["v1"]


def test_retraction_with_no_clean_fallback_leaves_no_champion() -> None:
    """The last clean champion retracted: champion none, in the record, the effect and state."""
    g = gate()
    data(g, W1)
    g.handle(update("v1"), SRC, AT)
    effects = data(g, W1, "reject", rev=2)
    (d,) = decisions(effects)
    assert (d.outcome, d.champion_before, d.champion_after) == ("rollback", "v1", None)
    assert champions(effects) == [None] and g.champion is None


def test_a_second_retraining_request_after_2n_promoted_windows() -> None:
    """retrain_every 2: requests after windows 2 and 4, each naming the last two."""
    g = gate(retrain_every=2)
    w4 = "clicks/2026-11-23T13:00:00Z/PT1H"
    requests = [
        e.request.windows
        for w in (W1, W2, W3, w4)
        for e in data(g, w)
        if isinstance(e, TrainingRequest)
    ]
    assert requests == [[W1, W2], [W3, w4]]


def test_an_override_promoted_version_is_rolled_back_when_its_data_turns_reject() -> None:
    """A held version forced to champion by an operator still answers to its lineage: when
    its window's decision turns promote then reject, it is rolled back."""
    g = gate()
    g.handle(update("v1", trained_on=[W2]), SRC, AT)
    g.handle(override("churn:v1", "promote"), SRC, AT, None, NOW)
    assert g.champion == "v1"
    data(g, W2)  # promoted: no new decision for a version that is not held
    effects = data(g, W2, "reject", rev=2)
    assert outcome(effects) == ("rollback",) and g.champion is None


# -- the partition ----------------------------------------------------------------------------


def test_partition_position_follows_every_offset_handled_or_skipped() -> None:
    """handle and skip move the position past the offset; the position entry says so."""
    p = ModelPartition({"churn": gate().spec}, gate().access, "t")
    n = DataNotice(window_id=W1, outcome="promote", decision_id="d1", source=SRC)
    p.handle("churn", n, SRC, 10, AT)
    assert p.position == 11 and p.position_entry() == StatePut(POSITION_KEY, 11)
    p.skip(15)
    assert p.position == 16


def test_an_unknown_model_is_rejected_and_still_moves_the_position() -> None:
    p = ModelPartition({"churn": gate().spec}, gate().access, "t")
    effects = p.handle("nope", update("v1"), SRC, 3, AT)
    assert [(e.code, e.event_id) for e in effects if isinstance(e, Rejected)] == [
        ("E_UNKNOWN_MODEL", "u-v1")
    ]
    assert p.position == 4


def test_partition_snapshot_restores_to_the_same_state() -> None:
    """restore(snapshot()) gives the same entries and decides the next input identically."""
    g = three_champions()
    p = ModelPartition({"churn": g.spec}, g.access, "t")
    p.gates["churn"] = g
    p.position = 42
    q = ModelPartition.restore({"churn": g.spec}, g.access, "t", list(p.snapshot().items()))
    assert q.snapshot() == p.snapshot() and q.position == 42
    trig = SourceOffset(topic="models.log", partition=0, offset=42)
    a = p.handle("churn", rollback(), SRC, 42, AT, trig, NOW)
    b = q.handle("churn", rollback(), SRC, 42, AT, trig, NOW)
    assert [d.decision_id for d in decisions(a)] == [d.decision_id for d in decisions(b)]


# -- commands are good once, and for a while -----------------------------------------------


@pytest.mark.parametrize(
    ("received_after_ms", "outcome_"),
    [
        (0, "rollback"),
        (AGE, "rollback"),
        (AGE + 1, "denied"),
        (-AGE, "rollback"),
        (-AGE - 1, "denied"),
    ],
)
def test_a_command_is_good_for_max_command_age(received_after_ms: int, outcome_: str) -> None:
    """Judged against the broker time of its record: issued at most max_command_age before
    (or after: clocks drift) it is obeyed; beyond, denied with E_COMMAND_EXPIRED."""
    g = three_champions()
    received = int(T.timestamp() * 1000) + received_after_ms
    effects = g.handle(rollback_at(T, "n" * 16, "c1"), SRC, AT, None, received)
    assert outcome(effects) == (outcome_,)
    if outcome_ == "denied":
        assert "E_COMMAND_EXPIRED" in codes(effects) and g.champion == "v3"


def test_a_replayed_nonce_is_denied_even_under_a_new_event_id() -> None:
    """The same signed nonce again (a copy re-signed with the actor's key and a new event id):
    denied with E_COMMAND_REPLAYED; the champion stays where the first one put it."""
    g = three_champions()
    now = int(T.timestamp() * 1000)
    assert outcome(g.handle(rollback_at(T, "n" * 16, "c1"), SRC, AT, None, now)) == ("rollback",)
    again = g.handle(rollback_at(T, "n" * 16, "c2"), SRC, AT, None, now + 1000)
    assert outcome(again) == ("denied",) and "E_COMMAND_REPLAYED" in codes(again)
    assert g.champion == "v2"


def test_nonces_are_forgotten_once_their_commands_would_be_expired() -> None:
    """The nonce and command memory is bounded by time: past max_command_age + skew a nonce
    and its command's event id are dropped (a command that old is refused unjudged)."""
    g = three_champions()
    now = int(T.timestamp() * 1000)
    g.handle(rollback_at(T, "a" * 16, "c1"), SRC, AT, None, now)
    assert "a" * 16 in g.nonces and "c1" in g.commands
    within = AGE + COMMAND_SKEW_MS
    g.handle(
        rollback_at(T + timedelta(milliseconds=within), "b" * 16, "c2"), SRC, AT, None, now + within
    )
    assert sorted(g.nonces) == ["a" * 16, "b" * 16]
    after = within + 5000
    g.handle(
        rollback_at(T + timedelta(milliseconds=after), "c" * 16, "c3"), SRC, AT, None, now + after
    )
    assert sorted(g.nonces) == ["b" * 16, "c" * 16] and sorted(g.commands) == ["c2", "c3"]


def test_a_command_the_gate_may_have_forgotten_is_refused_unjudged() -> None:
    """The same signed rollback sent again after its event id and nonce were forgotten (its
    record re-sent, or the changelog read back without them): refused to the dlq with
    E_COMMAND_EXPIRED, never obeyed twice and never decided again under its decision id."""
    g = three_champions()
    now = int(T.timestamp() * 1000)
    first = rollback_at(T, "a" * 16, "c1")
    assert outcome(g.handle(first, SRC, AT, None, now)) == ("rollback",)
    after = AGE + COMMAND_SKEW_MS + 1
    g.handle(
        rollback_at(T + timedelta(milliseconds=after), "b" * 16, "c2"), SRC, AT, None, now + after
    )
    assert "c1" not in g.commands and "a" * 16 not in g.nonces
    champion = g.champion
    again = g.handle(first, SRC, AT, None, now + after + 1)
    assert [(type(e).__name__, getattr(e, "code", None)) for e in again] == [
        ("Rejected", "E_COMMAND_EXPIRED")
    ]
    assert g.champion == champion


def test_a_command_without_broker_time_is_denied_not_waved_through() -> None:
    """A command record with no broker time the worker trusts (received None) fails the
    freshness check: denied with E_COMMAND_EXPIRED, the champion unchanged."""
    g = three_champions()
    now = int(T.timestamp() * 1000)
    g.handle(rollback_at(T, "a" * 16, "c1"), SRC, AT, None, now)  # the gate's clock is set
    champion = g.champion
    effects = g.handle(rollback_at(T, "b" * 16, "c2"), SRC, AT, None, None)
    assert outcome(effects) == ("denied",) and codes(effects) == ["E_COMMAND_EXPIRED"]
    (d,) = decisions(effects)
    fresh = next(c for c in d.checks if c.name == "freshness")
    assert fresh.observed == {"issued_at": "2026-11-23T12:00:00Z", "received_ms": None}
    assert g.champion == champion


def test_an_obeyed_command_names_its_checks_and_itself() -> None:
    """An obeyed rollback lists authorization (signature), freshness, nonce and target checks,
    and names its command: event id, nonce and the commands topic, partition and offset."""
    g = three_champions()
    now = int(T.timestamp() * 1000)
    src = SourceOffset(topic="commands", partition=2, offset=9)
    (d,) = decisions(g.handle(rollback_at(T, "n" * 16, "c1"), src, AT, None, now))
    assert d.outcome == "rollback"
    assert [c.name for c in d.checks] == ["signature", "freshness", "nonce", "rollback_target"]
    assert next(c for c in d.checks if c.name == "nonce").observed == "n" * 16
    assert d.inputs.event_ids == ["c1"] and d.inputs.offsets == [src]


def test_the_partition_hands_every_argument_to_the_model_s_gate() -> None:
    """Through the partition, a decision carries the source offsets, the decision time, the
    log position (trigger) and the orchestrator version it was given; the broker time judges
    a command; an unknown model's refusal names the model and the policy directory."""
    p = ModelPartition({"churn": gate().spec}, gate().access, "9.9.9")
    src = SourceOffset(topic="models.updates", partition=1, offset=5)
    trig = SourceOffset(topic="models.log", partition=1, offset=77)
    later = AT + timedelta(minutes=3)
    p.handle(
        "churn",
        DataNotice(window_id=W1, outcome="promote", decision_id="d1", source=SRC),
        SRC,
        0,
        AT,
    )
    (d,) = decisions(p.handle("churn", update("v1"), src, 1, later, trig))
    assert (d.inputs.offsets, d.decided_at, d.trigger, d.orchestrator_version) == (
        [src],
        later,
        trig,
        "9.9.9",
    )
    late = int(AT.timestamp() * 1000) + AGE + 60_000
    expired = p.handle("churn", rollback(), src, 2, AT, trig, late)
    assert codes(expired) == ["E_COMMAND_EXPIRED"] and outcome(expired) == ("denied",)
    (r,) = p.handle("nope", update("v2"), src, 3, AT)
    assert (r.dataset, r.event_id, r.code, r.message) == (  # type: ignore[union-attr]
        "nope",
        "u-v2",
        "E_UNKNOWN_MODEL",
        "field 'model': no policy for model 'nope' in gates/models",
    )
    q = ModelPartition.restore(
        {"churn": gate().spec}, gate().access, "9.9.9", list(p.snapshot().items())
    )
    (d2,) = decisions(q.handle("churn", update("v3", auc=0.9), src, 4, AT, trig))
    assert d2.orchestrator_version == "9.9.9"


def test_an_input_seen_again_is_ignored_and_a_reused_id_is_refused() -> None:
    """The same update twice changes nothing; its event id with other content, or its version
    under a new event id, is refused (E_DUPLICATE_CONFLICT) with what was reused."""
    g = gate()
    data(g, W1)
    first = g.handle(update("v1"), SRC, AT)
    assert outcome(first) == ("promote",)
    assert g.handle(update("v1"), SRC, AT) == []
    changed = update("v1", auc=0.9)
    (r1,) = g.handle(changed, SRC, AT)
    assert (r1.dataset, r1.event_id, r1.code, r1.message) == (  # type: ignore[union-attr]
        "churn",
        "u-v1",
        "E_DUPLICATE_CONFLICT",
        "event_id 'u-v1' was already used with different content",
    )
    again = update("v1").model_copy(update={"event_id": "u-v1-again"})
    effects = g.handle(again, SRC, AT)
    rejected = [e for e in effects if isinstance(e, Rejected)]
    assert [(r.dataset, r.event_id, r.code, r.message) for r in rejected] == [
        (
            "churn",
            "u-v1-again",
            "E_DUPLICATE_CONFLICT",
            "version 'v1' of churn was already submitted",
        )
    ]
    assert g.champion == "v1" and len(g.versions) == 1


def test_a_command_s_decision_records_where_and_when_it_was_read() -> None:
    g = three_champions()
    src = SourceOffset(topic="commands", partition=3, offset=8)
    later = AT + timedelta(seconds=30)
    (d,) = decisions(g.handle(rollback(), src, later, None, NOW))
    assert (d.inputs.offsets, d.decided_at, d.outcome) == ([src], later, "rollback")


def test_every_change_is_staged_under_its_own_key() -> None:
    """An update stages the model's record, the version and the event id, each under a key of
    its own (kind, model, id), and nothing else."""
    g = gate()
    effects = g.handle(update("v1", trained_on=[W1]), SRC, AT)
    puts = sorted(e.key.split("\x1f") for e in effects if isinstance(e, StatePut))
    assert puts == [["e", "churn", "u-v1"], ["m", "churn", ""], ["v", "churn", "v1"]]
