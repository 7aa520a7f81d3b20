"""Building audit decisions with deterministic ids (SPEC §5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from orchestrator.contracts.records import (
    AuditDecision,
    Check,
    GateRef,
    Inputs,
    Outcome,
    SourceOffset,
    Subject,
)
from orchestrator.core.digest import digest, wire_json

SubjectKind = Literal["data_window", "model_version", "command"]


@dataclass(frozen=True, slots=True)
class GateInfo:
    """Name, version and content digest of the policy that decides."""

    name: str
    version: int
    digest: str

    def ref(self) -> GateRef:
        return GateRef.model_construct(name=self.name, version=self.version, digest=self.digest)


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
    return AuditDecision.model_construct(
        type="audit.decision",
        v=1,
        decision_id=decision_id(kind, subject_id, revision, gate.digest, inputs_digest),
        subject=Subject.model_construct(kind=kind, id=subject_id),
        revision=revision,
        outcome=outcome,
        gate=gate.ref(),
        checks=checks,
        inputs=Inputs.model_construct(event_ids=event_ids, digest=inputs_digest, offsets=offsets),
        watermark=watermark,
        supersedes=supersedes,
        champion_before=champion_before,
        champion_after=champion_after,
        decided_at=decided_at,
        orchestrator_version=version,
        trigger=trigger,
        model=model,
    )


def _offset(o: SourceOffset) -> dict[str, Any]:
    return {"topic": o.topic, "partition": o.partition, "offset": o.offset}


def _check(c: Check) -> dict[str, Any]:
    out: dict[str, Any] = {"name": c.name, "passed": c.passed, "severity": c.severity}
    if c.observed is not None:
        out["observed"] = c.observed
    if c.expected is not None:
        out["expected"] = c.expected
    out["code"] = c.code
    return out


def decision_wire(d: AuditDecision) -> bytes:
    """The decision's wire form, `encode(d)`, written straight from its fields (one decision
    per fired window: pydantic's serializer cost ~66 µs for a window of 50 arrivals). Same keys
    in the same order, None fields left out; `tests/unit/test_decision_wire.py` proves the
    bytes equal on every decision the gates make and on generated ones."""
    inputs = d.inputs
    out: dict[str, Any] = {
        "type": d.type,
        "v": d.v,
        "decision_id": d.decision_id,
        "subject": {"kind": d.subject.kind, "id": d.subject.id},
        "revision": d.revision,
        "outcome": d.outcome,
        "gate": {"name": d.gate.name, "version": d.gate.version, "digest": d.gate.digest},
        "checks": [_check(c) for c in d.checks],
        "inputs": {
            "event_ids": inputs.event_ids,
            "digest": inputs.digest,
            "offsets": [_offset(o) for o in inputs.offsets],
        },
    }
    for name in ("watermark", "supersedes", "champion_before", "champion_after"):
        value = getattr(d, name)
        if value is not None:
            out[name] = value
    out["decided_at"] = d.decided_at
    out["orchestrator_version"] = d.orchestrator_version
    if d.trigger is not None:
        out["trigger"] = _offset(d.trigger)
    if d.model is not None:
        out["model"] = d.model
    return wire_json(out)
