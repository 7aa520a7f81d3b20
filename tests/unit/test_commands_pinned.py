"""Admission of signed commands at the model gate, pinned: a command seen again is ignored, an
event id reused with other content (by a command or an update) is refused, a command issued
outside the gate's memory is refused unjudged, and a full memory refuses new commands; each
refusal names the model, the event id, the code and the reason, and changes no state."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from orchestrator.contracts.codec import to_jsonable
from orchestrator.core.digest import digest
from orchestrator.core.effects import Rejected, StatePut
from orchestrator.core.modelgate import ModelGate
from orchestrator.core.modelstate import COMMAND_SKEW_MS, SEP
from tests.unit.modelgate_support import (
    AGE,
    AT,
    SRC,
    W1,
    T,
    codes,
    data,
    gate,
    outcome,
    restored,
    rollback_at,
    three_champions,
    update,
)

NOW = int(T.timestamp() * 1000)
#: how long a command's event id and nonce are remembered after it was issued
MEMORY = AGE + COMMAND_SKEW_MS


def test_the_same_command_again_is_ignored_even_after_a_restore() -> None:
    """A command is judged once: its event id is remembered with the digest of its content and
    its issue time (in state, as a changelog record), and the same command again, live or after
    the gate is read back from its changelog, yields no effect and moves no champion."""
    g = three_champions()
    cmd = rollback_at(T, "a" * 16, "c1")
    first = g.handle(cmd, SRC, AT, None, NOW)
    assert outcome(first) == ("rollback",) and g.champion == "v2"
    content = digest(to_jsonable(cmd))
    assert g.commands["c1"] == (content, NOW)
    assert StatePut(f"c{SEP}churn{SEP}c1", [content, NOW]) in first
    assert g.handle(cmd, SRC, AT, None, NOW + 1000) == []
    assert g.champion == "v2" and g.clock_ms == NOW
    h = restored(g, g.entries())
    assert h.handle(cmd, SRC, AT, None, NOW + 2000) == []
    assert h.champion == "v2"


def test_a_command_s_event_id_reused_with_other_content_is_refused() -> None:
    """The event id of a judged command, sent again with other content (another nonce), is
    refused to the dlq (E_DUPLICATE_CONFLICT): not judged, its nonce not remembered, the
    champion where the first command put it."""
    g = three_champions()
    assert outcome(g.handle(rollback_at(T, "a" * 16, "c1"), SRC, AT, None, NOW)) == ("rollback",)
    other = g.handle(rollback_at(T, "b" * 16, "c1"), SRC, AT, None, NOW)
    assert other == [
        Rejected(
            "churn",
            "c1",
            "E_DUPLICATE_CONFLICT",
            "event_id 'c1' was already used with different content",
        )
    ]
    assert g.champion == "v2" and "b" * 16 not in g.nonces


def test_a_command_reusing_an_update_s_event_id_is_refused() -> None:
    """An update's event id is remembered too: a command under it is refused
    (E_DUPLICATE_CONFLICT) unjudged, and the gate remembers no command."""
    g = gate()
    data(g, W1)
    assert outcome(g.handle(update("v1"), SRC, AT)) == ("promote",)
    refused = g.handle(rollback_at(T, "a" * 16, "u-v1"), SRC, AT, None, NOW)
    assert refused == [
        Rejected(
            "churn",
            "u-v1",
            "E_DUPLICATE_CONFLICT",
            "event_id 'u-v1' was already used with different content",
        )
    ]
    assert g.commands == {} and g.champion == "v1"


@pytest.mark.parametrize(
    ("issued_after_ms", "judged"),
    [(-MEMORY, True), (-MEMORY - 1, False), (MEMORY, True), (MEMORY + 1, False)],
)
def test_a_command_is_judged_from_exactly_the_memory_s_horizon(
    issued_after_ms: int, judged: bool
) -> None:
    """A command issued max_command_age + skew from the latest broker time (either side) is
    still judged (here denied: not fresh), and remembered; one millisecond further it is
    refused unjudged (a Rejected, not a decision) and the gate's clock does not move."""
    g = three_champions()
    issued = T + timedelta(milliseconds=issued_after_ms)
    effects = g.handle(rollback_at(issued, "a" * 16, "c1"), SRC, AT, None, NOW)
    if judged:
        assert outcome(effects) == ("denied",) and codes(effects) == ["E_COMMAND_EXPIRED"]
        assert "c1" in g.commands and g.clock_ms == NOW
    else:
        assert [(type(e).__name__, getattr(e, "code", None)) for e in effects] == [
            ("Rejected", "E_COMMAND_EXPIRED")
        ]
        assert g.commands == {} and g.clock_ms == 0
    assert g.champion == "v3"


def test_a_command_refused_as_too_old_says_why() -> None:
    """The refusal of a command issued before the memory's horizon names the model and the
    event id, and says when it was issued, how far back the gate remembers and from what time."""
    g = three_champions()
    issued = T - timedelta(milliseconds=MEMORY + 1)
    (r,) = g.handle(rollback_at(issued, "a" * 16, "c1"), SRC, AT, None, NOW)
    assert r == Rejected(
        "churn",
        "c1",
        "E_COMMAND_EXPIRED",
        "field 'issued_at': 2026-11-23T11:39:59.999000Z is more than 1200000 ms "
        "(max_command_age + skew) from the latest broker time of a command, "
        "2026-11-23T12:00:00Z: a command that old is not judged (it may be one judged before "
        "and forgotten); issue a new one",
    )


def test_a_full_command_memory_refuses_new_commands() -> None:
    """With max_event_ids commands remembered, the next one is refused (E_STATE_LIMIT) unjudged:
    its event id and nonce not remembered; below the bound a command is judged."""
    base = gate()
    g = ModelGate(replace(base.spec, max_event_ids=2), base.access, "test")
    for i in (1, 2):
        judged = g.handle(rollback_at(T, f"nonce-{i}-" + "x" * 16, f"c{i}"), SRC, AT, None, NOW)
        assert outcome(judged) == ("denied",) and codes(judged) == ["E_NO_ROLLBACK_TARGET"]
    third = g.handle(rollback_at(T, "nonce-3-" + "x" * 16, "c3"), SRC, AT, None, NOW)
    assert third == [
        Rejected(
            "churn",
            "c3",
            "E_STATE_LIMIT",
            "model churn remembers 2 commands issued in the last 1200000 ms (max_event_ids): "
            "send it again later",
        )
    ]
    assert sorted(g.commands) == ["c1", "c2"] and "nonce-3-" + "x" * 16 not in g.nonces
