"""What a model version is judged on, and how a judgement is recorded: metrics, thresholds,
regression against the champion, lineage; the decision record and the move through the
promotion table; the fallback champion."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.contracts.codec import to_jsonable
from orchestrator.contracts.records import Check, Outcome, SourceOffset
from orchestrator.core.checks import check
from orchestrator.core.decision import GateInfo, make_decision
from orchestrator.core.digest import digest
from orchestrator.core.effects import Decided
from orchestrator.core.modelspec import Lineage, Version, version_id
from orchestrator.core.modelstate import ModelState
from orchestrator.core.timeutil import dataset_start
from orchestrator.errors import (
    E_LINEAGE_PENDING,
    E_LINEAGE_REJECTED,
    E_METRIC_MISSING,
    E_METRIC_THRESHOLD,
    E_REGRESSION,
)


class ModelChecks(ModelState):
    """The checks and decision records of one model's gate (its handlers are `ModelGate`'s)."""

    def _lineage(self, v: Version) -> Lineage:
        rejected, pending, expired, known = [], [], [], []
        for w in v.update.trained_on:
            decided = self.windows.get(w)
            dataset, start = dataset_start(w)
            if dataset not in self.spec.datasets:
                rejected.append(w)
            elif decided is not None:
                known.append((w, decided.outcome, decided.decision_id))
                if decided.outcome != "promote":
                    rejected.append(w)
            elif dataset in self.horizon and start <= self.horizon[dataset]:
                expired.append(w)
                rejected.append(w)
            else:
                pending.append(w)
        return Lineage(rejected, pending, expired, known)

    def _checks(self, v: Version) -> tuple[list[Check], Lineage]:
        spec, metrics = self.spec, v.update.metrics
        out: list[Check] = []
        missing = [m for m in spec.required_metrics if m not in metrics]
        out.append(
            check(
                "required_metrics",
                not missing,
                "error",
                sorted(metrics),
                list(spec.required_metrics),
                E_METRIC_MISSING,
            )
        )
        for t in spec.thresholds:
            value = metrics.get(t.metric)
            ok = (
                value is not None
                and (t.min is None or value >= t.min)
                and (t.max is None or value <= t.max)
            )
            out.append(
                check(
                    f"threshold:{t.metric}",
                    ok,
                    "error",
                    value,
                    {"min": t.min, "max": t.max},
                    E_METRIC_THRESHOLD if value is not None else E_METRIC_MISSING,
                )
            )
        if spec.primary is not None:
            p = spec.primary
            champ = self.champion
            base = (
                self.versions[champ].update.metrics.get(p.name)
                if champ and champ != v.update.version
                else None
            )
            value = metrics.get(p.name)
            if base is None or value is None:
                ok = value is not None
            elif p.direction == "max":
                ok = value >= base - p.tolerance
            else:
                ok = value <= base + p.tolerance
            out.append(
                check(
                    "regression",
                    ok,
                    "error",
                    value,
                    {
                        "champion": champ if base is not None else None,
                        "champion_value": base,
                        "direction": p.direction,
                        "tolerance": p.tolerance,
                    },
                    E_REGRESSION if value is not None else E_METRIC_MISSING,
                )
            )
        lineage = self._lineage(v)
        observed: dict[str, list[str]] = {"rejected": lineage.rejected, "pending": lineage.pending}
        if lineage.expired:
            observed["expired"] = lineage.expired
        out.append(
            check(
                "lineage",
                lineage.clean,
                "error",
                observed,
                {"trained_on": "promote"},
                E_LINEAGE_REJECTED if lineage.rejected else E_LINEAGE_PENDING,
            )
        )
        return out, lineage

    def _inputs(
        self, v: Version, evidence: list[dict[str, Any]]
    ) -> tuple[list[str], str, list[SourceOffset]]:
        """Event ids, digest and offsets of what a decision rests on: the update, its lineage's
        data decisions, and the live intervals (`rollout` figures) where there are some."""
        known = [list(k) for k in self._lineage(v).known]
        ids = [v.update.event_id] + [d for _, _, d in known]
        if not evidence:  # as before staged rollouts existed: the same ids for the same inputs
            return ids, digest([digest(to_jsonable(v.update)), known]), [v.source]
        ids += [f["event_id"] for f in evidence]
        offsets = [v.source] + [SourceOffset.model_validate(f["source"]) for f in evidence]
        return ids, digest([digest(to_jsonable(v.update)), known, evidence]), offsets

    def decide(
        self,
        name: str,
        outcome: Outcome,
        checks: list[Check],
        at: datetime,
        transition: str,
        *,
        before: str | None,
        after: str | None,
        gate: GateInfo | None = None,
        evidence: list[dict[str, Any]] | None = None,
    ) -> Decided:
        v = self.versions[name]
        self.transition(name, transition)
        v.revision += 1
        ids, inputs_digest, offsets = self._inputs(v, evidence or [])
        decision = make_decision(
            kind="model_version",
            subject_id=version_id(self.spec.model, v.update.version),
            revision=v.revision,
            outcome=outcome,
            gate=gate or self.spec.gate,
            checks=checks,
            event_ids=ids,
            inputs_digest=inputs_digest,
            offsets=offsets,
            decided_at=at,
            version=self.version,
            supersedes=v.decision_id,
            champion_before=before,
            champion_after=after,
            trigger=self.trigger,
            model=self.spec.model,
        )
        v.decision_id = decision.decision_id
        return Decided(decision)

    def clean_lineage(self, name: str) -> bool:
        return self._lineage(self.versions[name]).clean

    def fallback(self, excluding: str) -> str | None:
        """The newest earlier champion, still promoted, whose lineage is clean."""
        for name in self.history.newest_first():
            if (
                name != excluding
                and self.versions[name].state in ("promoted", "rolled_back")
                and self.clean_lineage(name)
            ):
                return name
        return None
