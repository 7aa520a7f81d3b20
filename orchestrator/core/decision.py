"""Building audit decisions with deterministic ids (SPEC §5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from orchestrator.contracts.records import (
    AuditDecision,
    Check,
    GateRef,
    Inputs,
    Outcome,
    SourceOffset,
    Subject,
)
from orchestrator.contracts.trusted import made
from orchestrator.core.digest import digest

SubjectKind = Literal["data_window", "model_version", "command", "training"]


@dataclass(frozen=True, slots=True)
class GateInfo:
    """Name, version and content digest of the policy that decides."""

    name: str
    version: int
    digest: str

    def ref(self) -> GateRef:
        ref: GateRef = made(GateRef, name=self.name, version=self.version, digest=self.digest)
        return ref


def decision_id(
    kind: str, subject_id: str, revision: int, policy_digest: str, inputs_digest: str
) -> str:
    """Digest of subject, revision, policy digest and inputs digest: the same inputs, the same id."""
    return digest([kind, subject_id, revision, policy_digest, inputs_digest])


def make_decision(
    *,
    kind: SubjectKind,
    subject_id: str,
    revision: int,
    outcome: Outcome,
    gate: GateInfo,
    checks: list[Check],
    event_ids: list[str],
    inputs_digest: str,
    offsets: list[SourceOffset],
    decided_at: datetime,
    version: str,
    watermark: datetime | None = None,
    supersedes: str | None = None,
    champion_before: str | None = None,
    champion_after: str | None = None,
    trigger: SourceOffset | None = None,
    model: str | None = None,
) -> AuditDecision:
    decision: AuditDecision = made(
        AuditDecision,
        type="audit.decision",
        v=1,
        decision_id=decision_id(kind, subject_id, revision, gate.digest, inputs_digest),
        subject=made(Subject, kind=kind, id=subject_id),
        revision=revision,
        outcome=outcome,
        gate=gate.ref(),
        checks=checks,
        inputs=made(Inputs, event_ids=event_ids, digest=inputs_digest, offsets=offsets),
        watermark=watermark,
        supersedes=supersedes,
        champion_before=champion_before,
        champion_after=champion_after,
        decided_at=decided_at,
        orchestrator_version=version,
        trigger=trigger,
        model=model,
    )
    return decision
