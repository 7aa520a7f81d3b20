"""The data gate (SPEC §4): one decision per fired window revision, promote or reject."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from orchestrator.contracts.records import (
    AuditDecision,
    Check,
    Outcome,
    SourceOffset,
    WindowManifest,
)
from orchestrator.core.checks import Severity, check, gate_fails
from orchestrator.core.decision import GateInfo, make_decision
from orchestrator.errors import E_MISSING_SOURCE, E_RECORD_COUNT, E_SCHEMA_MISMATCH, E_VOLUME_DRIFT

#: Validates a window's offsets in one call into pydantic's core (cheaper than one
#: model_construct per arrival on a window of thousands).
_OFFSETS: TypeAdapter[list[SourceOffset]] = TypeAdapter(list[SourceOffset])


@dataclass(frozen=True, slots=True)
class DataGateSpec:
    """The data-gate part of a dataset policy."""

    gate: GateInfo
    required_sources: frozenset[str] = frozenset()
    completeness_severity: Severity = "error"
    record_count: tuple[int, int | None, Severity] | None = None  # (min, max, severity)
    schema_fingerprint: tuple[str, Severity] | None = None  # (equals, severity)
    volume_drift: tuple[int, float, Severity] | None = None  # (last k, max_ratio, severity)


class DataGate:
    """State: the last k promoted totals (volume drift) and the latest decision per open window."""

    def __init__(self, spec: DataGateSpec, arrivals_topic: str, version: str) -> None:
        self.spec = spec
        self.arrivals_topic = arrivals_topic
        self.version = version
        self.promoted: OrderedDict[str, int] = OrderedDict()  # window id -> record total
        self.latest: dict[str, tuple[str, str]] = {}  # window id -> (decision id, outcome)

    def checks(self, m: WindowManifest) -> list[Check]:
        spec = self.spec
        out = []
        if spec.required_sources:
            missing = sorted(spec.required_sources - set(m.sources))
            out.append(
                check(
                    "completeness",
                    not missing,
                    spec.completeness_severity,
                    m.sources,
                    sorted(spec.required_sources),
                    E_MISSING_SOURCE,
                )
            )
        if spec.record_count is not None:
            lo, hi, severity = spec.record_count
            ok = m.record_total >= lo and (hi is None or m.record_total <= hi)
            out.append(
                check(
                    "record_count",
                    ok,
                    severity,
                    m.record_total,
                    {"min": lo, "max": hi},
                    E_RECORD_COUNT,
                )
            )
        if spec.schema_fingerprint is not None:
            want, severity = spec.schema_fingerprint
            seen = sorted({a.schema_fingerprint or "none" for a in m.arrivals})
            out.append(
                check("schema_fingerprint", seen == [want], severity, seen, want, E_SCHEMA_MISMATCH)
            )
        if spec.volume_drift is not None:
            k, max_ratio, severity = spec.volume_drift
            history = [t for w, t in self.promoted.items() if w != m.window_id][-k:]
            if not history:
                out.append(
                    check(
                        "volume_drift",
                        True,
                        severity,
                        {"total": m.record_total, "history": 0},
                        {"last": k, "max_ratio": max_ratio},
                        E_VOLUME_DRIFT,
                    )
                )
            else:
                mean = sum(history) / len(history)
                ratio = _ratio(m.record_total, mean)
                out.append(
                    check(
                        "volume_drift",
                        ratio <= max_ratio,
                        severity,
                        {
                            "total": m.record_total,
                            "mean": round(mean, 6),
                            "ratio": round(ratio, 6),
                            "history": len(history),
                        },
                        {"last": k, "max_ratio": max_ratio},
                        E_VOLUME_DRIFT,
                    )
                )
        return out

    def decide(
        self, m: WindowManifest, decided_at: datetime, trigger: tuple[int, int] | None = None
    ) -> AuditDecision:
        checks = self.checks(m)
        outcome: Outcome = "reject" if gate_fails(checks) else "promote"
        previous = self.latest.get(m.window_id)
        decision = make_decision(
            kind="data_window",
            subject_id=m.window_id,
            revision=m.revision,
            outcome=outcome,
            gate=self.spec.gate,
            checks=checks,
            event_ids=[a.event_id for a in m.arrivals],
            inputs_digest=m.inputs_digest,
            offsets=_OFFSETS.validate_python(
                [
                    {"topic": self.arrivals_topic, "partition": a.partition, "offset": a.offset}
                    for a in m.arrivals
                ]
            ),
            decided_at=decided_at,
            version=self.version,
            watermark=m.watermark,
            supersedes=previous[0] if previous else None,
            trigger=SourceOffset.model_construct(
                topic=self.arrivals_topic, partition=trigger[0], offset=trigger[1]
            )
            if trigger
            else None,
        )
        self.latest[m.window_id] = (decision.decision_id, outcome)
        self.promoted.pop(m.window_id, None)
        if outcome == "promote":
            self.promoted[m.window_id] = m.record_total
            if self.spec.volume_drift is not None:
                while len(self.promoted) > self.spec.volume_drift[0] + 1:
                    self.promoted.popitem(last=False)
        return decision

    def forget(self, window_id: str) -> None:
        """The window's state was dropped: no revision can follow, so no supersedes is needed."""
        self.latest.pop(window_id, None)

    # -- persistence --------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {"promoted": list(self.promoted.items()), "latest": self.latest}

    def restore(self, value: dict[str, Any]) -> None:
        self.promoted = OrderedDict((w, int(t)) for w, t in value["promoted"])
        self.latest = {w: (d, o) for w, (d, o) in value["latest"].items()}


def _ratio(total: float, mean: float) -> float:
    if mean == 0 and total == 0:
        return 1.0
    if mean == 0 or total == 0:
        return float("inf")
    return max(total / mean, mean / total)
