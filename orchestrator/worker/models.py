"""What the worker does around the model-side logic: metrics and logs of each applied record."""

from __future__ import annotations

import structlog

from orchestrator.core.effects import ChampionChanged, Decided, Rejected, TrainingRequest
from orchestrator.pipeline.records import Applied, InputRecord
from orchestrator.worker.metrics import Metrics

log = structlog.get_logger("orchestrator.models")


class RouterObserver:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def __call__(self, applied: Applied, record: InputRecord) -> None:
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


class ModelObserver:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.champions: dict[str, str | None] = {}

    def __call__(self, applied: Applied, record: InputRecord) -> None:
        self.metrics.event(record.topic, applied.event_type, applied.fate)
        if applied.code is not None:
            self.metrics.dlq_code(applied.code)
        for effect in applied.effects:
            if isinstance(effect, Decided):
                d = effect.decision
                self.metrics.decided(d, record.timestamp)
                log.info(
                    "decision",
                    decision_id=d.decision_id,
                    subject=d.subject.id,
                    revision=d.revision,
                    outcome=d.outcome,
                    failed=[c.code for c in d.checks if not c.passed],
                )
            elif isinstance(effect, ChampionChanged):
                self.champion(effect.model, effect.version)
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

    def champion(self, model: str, version: str | None) -> None:
        self.champions[model] = version
        self.metrics.set_champion(model, version)
