"""The data gate (SPEC §4): one decision per fired window revision, promote or reject."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.contracts.records import (
    AuditDecision,
    Check,
    Outcome,
    SourceOffset,
    WindowManifest,
)
from orchestrator.contracts.trusted import made, trusted
from orchestrator.core.checks import Severity, check, gate_fails
from orchestrator.core.decision import GateInfo, make_decision
from orchestrator.core.drift import Drift, drift_checks
from orchestrator.core.policy import ProfileColumn
from orchestrator.errors import (
    E_MISSING_SOURCE,
    E_RECORD_COUNT,
    E_SCHEMA_MISMATCH,
    E_VOLUME_DRIFT,
    E_WINDOW_FULL,
)

#: the fields of a SourceOffset built from an arrival's position (`trusted`: the partition and
#: offset of a window's ArrivalRef are already valid)
_OFFSET_FIELDS = frozenset(("topic", "partition", "offset"))


@dataclass(frozen=True, slots=True)
class RecordCount:
    """The window's record total lies within [min, max] (both inclusive; max None: no bound)."""

    min: int = 0
    max: int | None = None
    severity: Severity = "error"


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """Every arrival of the window carries this schema fingerprint."""

    equals: str
    severity: Severity = "error"


@dataclass(frozen=True, slots=True)
class VolumeDrift:
    """The total is within `max_ratio` (either way) of the mean of the last `last` promoted."""

    last: int
    max_ratio: float
    severity: Severity = "warn"


@dataclass(frozen=True, slots=True)
class DataGateSpec:
    """The data-gate part of a dataset policy."""

    gate: GateInfo
    required_sources: frozenset[str] = frozenset()
    completeness_severity: Severity = "error"
    record_count: RecordCount | None = None
    schema_fingerprint: Fingerprint | None = None
    volume_drift: VolumeDrift | None = None
    #: the profile columns (their bins and quantiles) and the drift checks over them
    profile: tuple[ProfileColumn, ...] = ()
    drift: Drift | None = None


class DataGate:
    """State: the last k promoted totals (volume drift) and, with drift checks, the merged
    profiles (checked columns only) of the last k promoted windows or of the pinned window;
    one changelog value of at most k + 1 entries each. The latest decision of each window is
    kept with the window (core/windows.py)."""

    def __init__(self, spec: DataGateSpec, arrivals_topic: str, version: str) -> None:
        self.spec = spec
        self.arrivals_topic = arrivals_topic
        self.version = version
        self.promoted: OrderedDict[str, int] = OrderedDict()  # window id -> record total
        #: window id -> merged profile of the checked columns, promoted windows (drift `last`)
        self.profiles: OrderedDict[str, dict[str, Any]] = OrderedDict()
        #: the pinned reference window's merged profile, once promoted (drift `window`)
        self.pinned: dict[str, Any] | None = None
        #: each profile column's declaration, as kept profiles record it (fixed by the spec)
        self.declared = {c.name: declared(c) for c in spec.profile}

    def checks(self, m: WindowManifest) -> list[Check]:
        spec = self.spec
        out = []
        if m.refused:  # arrivals were refused because the window was full: it is incomplete
            out.append(
                check(
                    "window_size",
                    False,
                    "error",
                    {"arrivals": len(m.arrivals), "refused": m.refused},
                    {"refused": 0},
                    E_WINDOW_FULL,
                )
            )
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
            rc = spec.record_count
            ok = m.record_total >= rc.min and (rc.max is None or m.record_total <= rc.max)
            out.append(
                check(
                    "record_count",
                    ok,
                    rc.severity,
                    m.record_total,
                    {"min": rc.min, "max": rc.max},
                    E_RECORD_COUNT,
                )
            )
        if spec.schema_fingerprint is not None:
            want, severity = spec.schema_fingerprint.equals, spec.schema_fingerprint.severity
            seen = sorted({a.schema_fingerprint or "none" for a in m.arrivals})
            out.append(
                check("schema_fingerprint", seen == [want], severity, seen, want, E_SCHEMA_MISMATCH)
            )
        if spec.volume_drift is not None:
            drift = spec.volume_drift
            k, max_ratio, severity = drift.last, drift.max_ratio, drift.severity
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
        if spec.drift is not None:
            out.extend(drift_checks(spec.drift, spec.profile, m.profile or {}, self._reference(m)))
        return out

    def _reference(self, m: WindowManifest) -> list[tuple[str, dict[str, Any]]]:
        drift = self.spec.drift
        assert drift is not None
        if drift.window is not None:
            held = self.pinned is not None and drift.window != m.window_id
            if not held or self.pinned is None:
                return []
            return [(drift.window, self._current(self.pinned))]
        k = drift.last or 0
        held_k = [(w, p) for w, p in self.profiles.items() if w != m.window_id][-k:]
        return [(w, self._current(p)) for w, p in held_k]

    def _current(self, kept: dict[str, Any]) -> dict[str, Any]:
        """The columns of a kept profile that were kept under the declaration the policy makes
        now (its bins and quantiles); a column declared otherwise since is no reference."""
        return {c: p for c, p in kept.items() if p.get("declared") == self.declared.get(c)}

    def _remember(self, m: WindowManifest, promoted: bool) -> None:
        """Keep the promoted window's profile where the drift reference needs it."""
        drift = self.spec.drift
        if drift is None:
            return
        checked = {c.column for c in drift.checks}
        kept = {
            c: {**p, "declared": self.declared.get(c)}
            for c, p in (m.profile or {}).items()
            if c in checked
        }
        if drift.window is not None:
            if m.window_id == drift.window:
                self.pinned = kept if promoted else None
            return
        self.profiles.pop(m.window_id, None)
        if promoted:
            self.profiles[m.window_id] = kept
            while len(self.profiles) > (drift.last or 0) + 1:
                self.profiles.popitem(last=False)

    def decide(
        self,
        m: WindowManifest,
        decided_at: datetime,
        supersedes: str | None = None,
        trigger: tuple[int, int] | None = None,
    ) -> AuditDecision:
        """Decide one window revision; `supersedes` is the decision id of its previous one."""
        checks = self.checks(m)
        topic = self.arrivals_topic
        outcome: Outcome = "reject" if gate_fails(checks) else "promote"
        decision = make_decision(
            kind="data_window",
            subject_id=m.window_id,
            revision=m.revision,
            outcome=outcome,
            gate=self.spec.gate,
            checks=checks,
            event_ids=[a.event_id for a in m.arrivals],
            inputs_digest=m.inputs_digest,
            offsets=[
                trusted(
                    SourceOffset,
                    {"topic": topic, "partition": a.partition, "offset": a.offset},
                    set(_OFFSET_FIELDS),
                )
                for a in m.arrivals
            ],
            decided_at=decided_at,
            version=self.version,
            watermark=m.watermark,
            supersedes=supersedes,
            trigger=made(SourceOffset, topic=topic, partition=trigger[0], offset=trigger[1])
            if trigger
            else None,
        )
        self._remember(m, outcome == "promote")
        self.promoted.pop(m.window_id, None)
        if outcome == "promote":
            self.promoted[m.window_id] = m.record_total
            if self.spec.volume_drift is not None:
                while len(self.promoted) > self.spec.volume_drift.last + 1:
                    self.promoted.popitem(last=False)
        return decision

    # -- persistence --------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {"promoted": list(self.promoted.items())}
        if self.spec.drift is not None:
            out["profiles"] = [[w, p] for w, p in self.profiles.items()]
            out["pinned"] = self.pinned
        return out

    def restore(self, value: dict[str, Any]) -> None:
        self.promoted = OrderedDict((w, int(t)) for w, t in value["promoted"])
        self.profiles = OrderedDict((str(w), dict(p)) for w, p in value.get("profiles", ()))
        pinned = value.get("pinned")
        self.pinned = dict(pinned) if pinned is not None else None


def declared(col: ProfileColumn) -> list[list[float] | None]:
    """A column's declaration as its kept profiles record it (JSON: lists)."""
    return [
        None if col.edges is None else list(col.edges),
        None if col.probs is None else list(col.probs),
    ]


def _ratio(total: float, mean: float) -> float:
    if mean == 0 and total == 0:
        return 1.0
    if mean == 0 or total == 0:
        return float("inf")
    return max(total / mean, mean / total)
