"""What the worker does around the model-side logic: metrics and logs of each applied record."""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from orchestrator.contracts.events import ModelPerformance
from orchestrator.core.effects import ChampionChanged, Decided, Rejected, TrainingRequest
from orchestrator.core.modelpartition import ModelPartition
from orchestrator.core.modelspec import ModelGateSpec
from orchestrator.core.rollout import counted
from orchestrator.pipeline.models import Cursor
from orchestrator.pipeline.observer import Observer
from orchestrator.pipeline.records import Applied, InputRecord
from orchestrator.worker.metrics import Metrics

log = structlog.get_logger("orchestrator.models")


class RouterObserver(Observer[Cursor]):
    """Metrics and logs of the router: what each update and command became."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def refused(self, code: str) -> None:
        self.metrics.dlq_code(code)

    def applied(self, applied: Applied, record: InputRecord) -> None:
        self.metrics.event(record.topic, applied.event_type, applied.fate)
        if applied.code is not None:
            self.metrics.dlq_code(applied.code)
            log.warning(
                "invalid input",
                code=applied.code,
                event_id=applied.event_id,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            )


class ModelObserver(Observer[ModelPartition]):
    """Metrics and logs of the model gates' effects. It follows each model's champion and
    challenger (from the champions changes, and from the gates on recovery) to say whose live
    figures a model.performance interval reports and which decision drops a challenger."""

    def __init__(self, metrics: Metrics, specs: Mapping[str, ModelGateSpec] | None = None) -> None:
        self.metrics = metrics
        self.specs = dict(specs or {})
        self.champions: dict[str, str | None] = {}
        self.challengers: dict[str, str | None] = {}

    def refused(self, code: str) -> None:
        self.metrics.dlq_code(code)

    def restored(self, engine: ModelPartition) -> None:
        """Recovered gates: their champions and challengers as the changelog has them."""
        for model, gate in engine.gates.items():
            self.champion(model, gate.champion, gate.challenger)

    def applied(self, applied: Applied, record: InputRecord) -> None:
        self.metrics.event(record.topic, applied.event_type, applied.fate)
        if applied.code is not None:
            self.metrics.dlq_code(applied.code)
        # an exact duplicate changes nothing (no effects at all): not reported twice
        if (
            isinstance(applied.item, ModelPerformance)
            and applied.fate == "applied"
            and applied.effects
        ):
            self.performance(applied.item, counted(applied.effects, applied.item))
        for effect in applied.effects:
            if isinstance(effect, Decided):
                d = effect.decision
                model = d.model or ""
                self.metrics.decided(d, record.timestamp, self.challengers.get(model))
                log.info(
                    "decision",
                    decision_id=d.decision_id,
                    subject=d.subject.id,
                    revision=d.revision,
                    outcome=d.outcome,
                    failed=[c.code for c in d.checks if not c.passed],
                )
            elif isinstance(effect, ChampionChanged):
                self.champion(effect.model, effect.version, effect.challenger)
                log.info(
                    "champion",
                    model=effect.model,
                    version=effect.version,
                    challenger=effect.challenger,
                    decision_id=effect.decision_id,
                )
            elif isinstance(effect, TrainingRequest):
                r = effect.request
                log.info("training requested", model=r.model, windows=len(r.windows))
            elif isinstance(effect, Rejected):
                log.warning(
                    "rejected", code=effect.code, event_id=effect.event_id, reason=effect.message
                )

    def champion(self, model: str, version: str | None, challenger: str | None = None) -> None:
        """`model`'s champion and challenger now; the live figures of a role whose version
        changed are dropped (they were the previous version's)."""
        if self.champions.get(model) != version:
            self.metrics.forget_live(model, "champion")
        if self.challengers.get(model) != challenger:
            self.metrics.forget_live(model, "challenger")
        self.champions[model] = version
        self.challengers[model] = challenger
        self.metrics.set_champion(model, version)
        self.metrics.set_challenger(model, challenger)

    def forgotten(self, engine: ModelPartition) -> None:
        """A models.log partition went to another worker: forget each model it holds."""
        for model in engine.gates:
            self.forget(model)

    def forget(self, model: str) -> None:
        """`model`'s partition went to another worker: its champion, challenger and live series
        are that worker's to export now (left here they would show stale figures, and a
        challenger of 1 that `max by (model)` keeps for ever)."""
        self.champions.pop(model, None)
        self.challengers.pop(model, None)
        self.metrics.forget_model(model)

    def performance(self, perf: ModelPerformance, was_counted: bool) -> None:
        """The figures of an interval of the champion or challenger (as they stood before it
        was judged), of the policy's required metrics only; other versions' are not shown.
        `was_counted`: the gate counted it (read from its effects: `rollout.counted`)."""
        spec = self.specs.get(perf.model)
        if spec is None:
            return
        if perf.version == self.champions.get(perf.model):
            role = "champion"
        elif perf.version == self.challengers.get(perf.model):
            role = "challenger"
        else:
            return
        figures = {m: v for m, v in perf.metrics.items() if m in spec.required_metrics}
        self.metrics.live(perf.model, role, figures, perf.sample_count, was_counted)
