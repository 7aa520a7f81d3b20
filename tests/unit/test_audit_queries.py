"""The audit queries follow the log, not the wall clock: ties in decided_at, the chain of one
trigger's champion changes, repeats and forged copies (SPEC §6)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.audit.queries import Recorded, champion_at, distinct, history, log_order
from orchestrator.core.timeutil import format_rfc3339_ms
from orchestrator.errors import AuditRefused, UnknownSubject

T0 = 1_795_435_200_000


def decision(
    version: str,
    outcome: str,
    before: str | None,
    after: str | None,
    *,
    trigger: int,
    at: int = T0,
    revision: int = 1,
    stage: bool = False,
    did: str | None = None,
) -> dict[str, Any]:
    checks = (
        [{"name": "rollout", "passed": True, "observed": {"stage": "challenger"}}] if stage else []
    )
    d: dict[str, Any] = {
        "decision_id": did or f"sha256:{version}-{revision}-{outcome}",
        "subject": {"kind": "model_version", "id": f"churn:{version}"},
        "revision": revision,
        "outcome": outcome,
        "model": "churn",
        "checks": checks,
        "decided_at": format_rfc3339_ms(at),
        "trigger": {"topic": "models.log", "partition": 1, "offset": trigger},
    }
    if before is not None:
        d["champion_before"] = before
    if after is not None:
        d["champion_after"] = after
    return d


class Memory:
    """A trail in memory: decisions where they were recorded (partition, offset)."""

    def __init__(self, decisions: list[tuple[int, int, dict[str, Any]]]) -> None:
        self.recorded = [Recorded(d, p, o) for p, o, d in decisions]

    def history(self, subject: str) -> list[Recorded]:
        return [r for r in self.recorded if r.record["subject"]["id"] == subject]

    def model_decisions(self, model: str) -> list[Recorded]:
        return [r for r in self.recorded if r.record.get("model") == model]

    def update_at(self, partition: int, offset: int) -> dict[str, Any] | None:
        return None

    def manifests(self, window_id: str, revision: int) -> list[dict[str, Any]]:
        return []

    def as_of(self) -> dict[str, dict[int, int]]:
        return {}


def test_decisions_of_one_millisecond_follow_the_log_not_their_subjects() -> None:
    """The demo's case: an override and a signed rollback handled in one batch share decided_at;
    the rollback came later in models.log, so it is what stands (the index used to order such
    ties by subject id and named the override's version)."""
    trail = Memory(
        [
            (0, 5, decision("v2", "override", "auto-1", "v2", trigger=40)),
            (3, 9, decision("auto-1", "rollback", "v2", "auto-1", trigger=41, did="sha256:zz")),
        ]
    )
    state = champion_at(trail, "churn", T0)
    assert state.champion == "auto-1" and state.since["trigger"]["offset"] == 41  # type: ignore[index]


def test_one_trigger_s_champion_changes_are_ordered_by_their_chain() -> None:
    """One data notice promotes two held versions (v2 then v3): both in one trigger and one
    millisecond, recorded in whatever partitions; their champion_before/after chain orders them."""
    trail = Memory(
        [
            (2, 1, decision("v3", "promote", "v2", "v3", trigger=7)),
            (0, 1, decision("v2", "promote", "v1", "v2", trigger=7)),
            (1, 1, decision("v1", "promote", None, "v1", trigger=3, at=T0 - 10)),
        ]
    )
    assert [r.record["subject"]["id"] for r in log_order(distinct(trail.recorded))] == [
        "churn:v1",
        "churn:v2",
        "churn:v3",
    ]
    assert champion_at(trail, "churn", T0).champion == "v3"
    assert champion_at(trail, "churn", T0 - 1).champion == "v1"
    assert champion_at(trail, "churn", T0 - 11).champion is None


def test_an_order_the_log_does_not_tell_is_refused() -> None:
    """Two champion changes in one trigger that do not chain: refused, never guessed."""
    trail = Memory(
        [
            (0, 1, decision("v2", "promote", "v1", "v2", trigger=7)),
            (1, 1, decision("v3", "promote", "v1", "v3", trigger=7)),
        ]
    )
    with pytest.raises(AuditRefused, match="do not chain"):
        champion_at(trail, "churn", T0)


def test_staging_a_challenger_is_not_crowning_it() -> None:
    """A version staged as challenger (promote with the rollout stage, champion unchanged) is
    the challenger, not the champion; crowned later, it is the champion, named with the decision
    that crowned it."""
    trail = Memory(
        [
            (0, 0, decision("v1", "promote", None, "v1", trigger=1, at=T0)),
            (1, 0, decision("v2", "promote", "v1", "v1", trigger=2, at=T0 + 1, stage=True)),
            (2, 0, decision("v2", "promote", "v1", "v2", trigger=5, at=T0 + 2, revision=2)),
        ]
    )
    staged = champion_at(trail, "churn", T0 + 1)
    assert (staged.champion, staged.challenger) == ("v1", "v2")
    assert staged.since["subject"]["id"] == "churn:v1"  # type: ignore[index]
    crowned = champion_at(trail, "churn", T0 + 2)
    assert (crowned.champion, crowned.challenger) == ("v2", None)
    assert crowned.since["revision"] == 2  # type: ignore[index]


def test_repeats_are_one_and_a_forged_copy_is_shown_and_refused_for_the_champion() -> None:
    """An at-least-once repeat (same decision, decided again later) counts once; a copy that
    reuses a decision id with another outcome is shown in the history, marked, and makes the
    champion question refused."""
    genuine = decision("v1", "promote", None, "v1", trigger=1)
    repeat = {**genuine, "decided_at": format_rfc3339_ms(T0 + 5000)}
    trail = Memory([(0, 0, genuine), (0, 4, repeat)])
    assert len(history(trail, "churn:v1")) == 1
    assert champion_at(trail, "churn", T0 + 10_000).champion == "v1"
    forged = {**genuine, "outcome": "reject", "champion_after": None}
    trail = Memory([(0, 0, genuine), (0, 4, repeat), (1, 9, forged)])
    shown = history(trail, "churn:v1")
    assert [d["outcome"] for d in shown] == ["promote", "reject"]
    assert all(d["conflicting"] for d in shown)
    with pytest.raises(AuditRefused, match="two different contents"):
        champion_at(trail, "churn", T0)


def test_an_unknown_subject_or_model_is_an_error() -> None:
    trail = Memory([])
    with pytest.raises(UnknownSubject):
        history(trail, "churn:v9")
    with pytest.raises(UnknownSubject):
        champion_at(trail, "churn", T0)
