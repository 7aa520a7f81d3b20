"""The model gate (SPEC §4) of one model: metrics, regression, lineage, hold and retraction,
retraining triggers; signed commands are judged in `modelcommands`, the state kept in
`modelstate`. Pure: inputs in, effects out."""

from __future__ import annotations

from datetime import datetime

from orchestrator.contracts.codec import to_jsonable
from orchestrator.contracts.events import (
    CommandOverride,
    CommandRollback,
    ModelPerformance,
    ModelUpdate,
)
from orchestrator.contracts.modellog import DataNotice, ModelInput
from orchestrator.contracts.records import SourceOffset
from orchestrator.core import retrain
from orchestrator.core.checks import gate_fails
from orchestrator.core.digest import digest
from orchestrator.core.effects import (
    ChampionChanged,
    Decided,
    Effect,
    Rejected,
)
from orchestrator.core.modelchecks import ModelChecks
from orchestrator.core.modelcommands import admit, on_command
from orchestrator.core.modelspec import (
    ModelGateSpec,
    PrimaryMetric,
    Threshold,
    Version,
    WindowDecision,
)
from orchestrator.core.modelstate import DECIDED, META, SEP, VERSION
from orchestrator.core.rollout import enter, on_performance
from orchestrator.errors import (
    E_DUPLICATE_CONFLICT,
)

__all__ = ["SEP", "ModelGate", "ModelGateSpec", "ModelInput", "PrimaryMetric", "Threshold"]


class ModelGate(ModelChecks):
    """One model's gate: `handle(item, ...) -> effects` for each `models.log` entry."""

    def handle(
        self,
        item: ModelInput,
        source: SourceOffset,
        decided_at: datetime,
        trigger: SourceOffset | None = None,
        received_ms: int | None = None,
    ) -> list[Effect]:
        """Effects of one models.log entry; `received_ms` is the broker time of the record the
        router read it from (a command is judged fresh or expired against it)."""
        self.trigger = trigger
        self.source = source
        challenger = self.challenger
        if isinstance(item, DataNotice):
            effects = self._on_data(item, decided_at)
        elif isinstance(item, CommandRollback | CommandOverride):
            admitted = admit(self, item, received_ms)
            if admitted is not None:
                return admitted
            effects = on_command(self, item, source, decided_at, received_ms)
        else:
            content = digest(to_jsonable(item))
            seen = self.seen.get(item.event_id) or self.commands.get(item.event_id)
            if seen is not None and seen[0] == content:
                return []
            if seen is not None:
                return [
                    Rejected(
                        self.spec.model,
                        item.event_id,
                        E_DUPLICATE_CONFLICT,
                        f"event_id {item.event_id!r} was already used with different content",
                    )
                ]
            if isinstance(item, ModelUpdate):
                known = self.versions.get(item.version)
                if known is not None and known.update == item:
                    return []  # the same update again, its event id long forgotten
                refused = self._refuse_update(item)
                if refused is not None:
                    return [refused]
            self._remember(item.event_id, content)
            if isinstance(item, ModelUpdate):
                effects = self._on_update(item, source, decided_at)
            else:
                effects = self._on_performance(item, source, decided_at)
        self._champions(effects, challenger)
        effects += retrain.after(self, item, effects, decided_at)
        self.changed.add((META, ""))
        return effects + self.state_effects()

    def _champions(self, effects: list[Effect], challenger_before: str | None) -> None:
        """Every champions record names the challenger too; a change of challenger alone
        (staged, replaced, rejected, crowned) is a champions record of its own."""
        now = self.challenger
        changes = [e for e in effects if isinstance(e, ChampionChanged)]
        for e in changes:
            e.challenger = now
        if now != challenger_before and not changes:
            last = [e for e in effects if isinstance(e, Decided)][-1]
            effects.append(
                ChampionChanged(self.spec.model, self.champion, last.decision.decision_id, now)
            )

    def _on_update(self, update: ModelUpdate, source: SourceOffset, at: datetime) -> list[Effect]:
        if update.version in self.versions:
            return [
                Rejected(
                    self.spec.model,
                    update.event_id,
                    E_DUPLICATE_CONFLICT,
                    f"version {update.version!r} of {update.model} was already submitted",
                )
            ]
        self.versions[update.version] = Version(update, source, seq=self._next())
        self.changed.add((VERSION, update.version))
        effects = self._evaluate(update.version, at, quiet_hold=False)
        for name in self._trim_versions():
            self.changed.add((VERSION, name))
        return effects

    def _on_performance(
        self, perf: ModelPerformance, source: SourceOffset, at: datetime
    ) -> list[Effect]:
        """Live metrics matter only to a staged rollout (`rollout.py`); without one they are
        deduped and otherwise ignored."""
        return on_performance(self, perf, source, at)

    def _evaluate(self, name: str, at: datetime, *, quiet_hold: bool) -> list[Effect]:
        v = self.versions[name]
        checks, lineage = self._checks(v)
        others_fail = gate_fails([c for c in checks if c.name != "lineage"])
        champ = self.champion
        if others_fail or lineage.rejected:
            return [self.decide(name, "reject", checks, at, "reject", before=champ, after=champ)]
        if lineage.pending:
            if quiet_hold and v.state == "held":
                return []  # still waiting: nothing new to record
            return [self.decide(name, "hold", checks, at, "hold", before=champ, after=champ)]
        if self.spec.rollout is not None:
            return enter(self, name, checks, at)
        decided = self.decide(name, "promote", checks, at, "promote", before=champ, after=name)
        return [decided, ChampionChanged(self.spec.model, name, decided.decision.decision_id)]

    def _on_data(self, notice: DataNotice, at: datetime) -> list[Effect]:
        previous = self.windows.get(notice.window_id)
        self.windows[notice.window_id] = WindowDecision(notice.outcome, notice.decision_id)
        self.changed.add((DECIDED, notice.window_id))
        effects: list[Effect] = []
        was_promoted = previous is not None and previous.outcome == "promote"
        if notice.outcome == "promote" and not was_promoted:
            effects.extend(self._count_promoted(notice.window_id, at))
        for name, v in list(self.versions.items()):
            if notice.window_id not in v.update.trained_on:
                continue
            if v.state == "held":
                effects.extend(self._evaluate(name, at, quiet_hold=True))
            elif (
                v.state in ("promoted", "challenger")
                and notice.outcome != "promote"
                and was_promoted
            ):
                effects.extend(self._retract(name, at))
        for w in self._trim_windows():
            self.changed.add((DECIDED, w))
        return effects

    def _count_promoted(self, window_id: str, at: datetime) -> list[Effect]:
        n = self.spec.retrain_every
        if not n:
            return []  # nothing counts promoted windows: keep none (the list would only grow)
        self.promoted_windows.append(window_id)
        if len(self.promoted_windows) < n:
            return []
        windows = self.promoted_windows[-n:]
        self.promoted_windows = []  # requested: they count toward no later request
        return retrain.every(self, windows, at)

    def _retract(self, name: str, at: datetime) -> list[Effect]:
        v = self.versions[name]
        checks, _ = self._checks(v)
        champ = self.champion
        if name != champ:
            return [self.decide(name, "reject", checks, at, "reject", before=champ, after=champ)]
        target = self.fallback(name)
        decided = self.decide(name, "rollback", checks, at, "rollback", before=name, after=target)
        self.crown(target)
        return [decided, ChampionChanged(self.spec.model, target, decided.decision.decision_id)]
