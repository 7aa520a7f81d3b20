"""The model gate and its partition, pinned further: an update under a command's event id is
refused, a champions record names the challenger serving beside the new champion, and a
partition rebuilds one model's gate from its changelog entries, leaving the others be."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from orchestrator.contracts.modellog import DataNotice
from orchestrator.core.effects import Rejected
from orchestrator.core.modelgate import SEP
from orchestrator.core.modelpartition import ModelPartition
from tests.unit.modelgate_support import (
    AT,
    NOW,
    SRC,
    W1,
    W2,
    T,
    gate,
    outcome,
    rollback,
    rollback_at,
    three_champions,
    update,
)
from tests.unit.rollout_support import champions, crowned_v2


def test_an_update_under_a_command_s_event_id_is_refused() -> None:
    """A judged command's event id is remembered: an update sent under it is refused
    (E_DUPLICATE_CONFLICT), its version not submitted."""
    g = three_champions()
    assert outcome(g.handle(rollback_at(T, "a" * 16, "x-1"), SRC, AT, None, NOW)) == ("rollback",)
    reused = update("v4", auc=0.9).model_copy(update={"event_id": "x-1"})
    assert g.handle(reused, SRC, AT) == [
        Rejected(
            "churn",
            "x-1",
            "E_DUPLICATE_CONFLICT",
            "event_id 'x-1' was already used with different content",
        )
    ]
    assert "v4" not in g.versions and g.champion == "v2"


def test_a_rollback_beside_a_challenger_names_it_in_the_champions_record() -> None:
    """Under a staged rollout, an operator's rollback of the champion (v2, back to v1) while
    v3 is the challenger writes a champions record naming v1 champion and v3 challenger."""
    g = crowned_v2()
    g.handle(update("v3", auc=0.85), SRC, AT)
    assert (g.champion, g.challenger) == ("v2", "v3")
    effects = g.handle(rollback(), SRC, AT, None, NOW)
    assert outcome(effects) == ("rollback",)
    assert champions(effects) == [("v1", "v3")]


def _two_models() -> ModelPartition:
    """A partition of the churn model and a fraud model (the same policy), each with a
    champion v1 trained on W1."""
    churn = gate().spec
    fraud = replace(churn, model="fraud")
    p = ModelPartition({"churn": churn, "fraud": fraud}, gate().access, "test")
    for i, model in enumerate(("churn", "fraud")):
        notice = DataNotice(window_id=W1, outcome="promote", decision_id=f"d-{model}", source=SRC)
        p.handle(model, notice, SRC, 2 * i, AT)
        v1 = update("v1").model_copy(update={"model": model, "event_id": f"u-{model}-v1"})
        assert outcome(p.handle(model, v1, SRC, 2 * i + 1, AT)) == ("promote",)
    return p


def _entries(p: ModelPartition, model: str) -> list[tuple[str, Any]]:
    return list(p.gates[model].entries().items())


def test_rebuild_replaces_one_model_s_gate_by_its_changelog_entries() -> None:
    """`rebuild(model, entries)` puts in that model's place a new gate holding exactly what the
    entries say (here: as it was before v2 was crowned), and leaves the other model's gate, the
    same object, as it was; the rebuilt gate goes on judging from that state."""
    p = _two_models()
    before = _entries(p, "churn")
    fraud = p.gates["fraud"]
    old = p.gates["churn"]
    data_w2 = DataNotice(window_id=W2, outcome="promote", decision_id="d-w2", source=SRC)
    p.handle("churn", data_w2, SRC, 4, AT)
    p.handle("churn", update("v2", auc=0.81, trained_on=[W2]), SRC, 5, AT)
    assert p.gates["churn"].champion == "v2"
    p.rebuild("churn", before)
    g = p.gates["churn"]
    assert g is not old and g.champion == "v1"
    assert sorted(g.versions) == ["v1"] and sorted(g.windows) == [W1]
    assert sorted(g.seen) == ["u-churn-v1"]
    assert sorted(g.entries().items()) == sorted(before)
    assert p.gates["fraud"] is fraud and fraud.champion == "v1"
    # the update that was lost with the old gate's state is judged again, as new
    again = p.handle("churn", update("v2", auc=0.81, trained_on=[W2]), SRC, 5, AT)
    assert outcome(again) == ("hold",) and g.champion == "v1"


def test_rebuild_keeps_an_event_id_holding_the_key_separator_whole() -> None:
    """An event id may hold any character, the changelog key's separator too: the rebuilt gate
    remembers it as it was (the key is split at its first two separators only)."""
    p = _two_models()
    odd = update("v2", auc=0.81).model_copy(update={"event_id": f"u{SEP}v2{SEP}x"})
    assert outcome(p.handle("churn", odd, SRC, 4, AT)) == ("promote",)
    before = _entries(p, "churn")
    p.rebuild("churn", before)
    g = p.gates["churn"]
    assert sorted(g.seen) == [f"u{SEP}v2{SEP}x", "u-churn-v1"] and g.champion == "v2"
    assert p.handle("churn", odd, SRC, 5, AT) == []


def test_rebuild_of_a_model_without_a_policy_creates_no_gate() -> None:
    """A model the partition has no policy for has no gate to rebuild: nothing is created and
    the gates there are stay as they were."""
    p = _two_models()
    gates = dict(p.gates)
    p.rebuild("nope", _entries(p, "churn"))
    assert p.gates == gates and "nope" not in p.gates
    assert p.gates["churn"].champion == "v1"
