"""The model side: a router that sequences updates and commands into `models.log`, and the
model-gate shell that reads it and carries out decisions, champions and training requests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog

from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.codec import decode, encode
from orchestrator.contracts.events import CommandOverride, CommandRollback, ModelUpdate
from orchestrator.contracts.modellog import event_record, model_of, parse_record
from orchestrator.contracts.records import ChampionRecord, SourceOffset
from orchestrator.core.effects import (
    ChampionChanged,
    Decided,
    Effect,
    Rejected,
    StatePut,
    TrainingRequest,
)
from orchestrator.core.modelgate import AccessSpec, ModelGateSpec, ModelPartition
from orchestrator.errors import ContractError
from orchestrator.worker.metrics import Metrics
from orchestrator.worker.outputs import Outputs, utcnow
from orchestrator.worker.partitioned import PartitionedShell

log = structlog.get_logger("orchestrator.models")


class Router:
    """Decodes `models.updates` and `commands` and forwards them, keyed by model, to `models.log`."""

    def __init__(self, catalog: Catalog, outputs: Outputs, metrics: Metrics) -> None:
        self.catalog = catalog
        self.outputs = outputs
        self.metrics = metrics

    async def route(
        self, role: str, partition: int, offset: int, key: bytes | None, value: bytes | None
    ) -> None:
        topic = self.catalog.name(role)
        try:
            event = decode(value, key, topic_role=role)
        except ContractError as exc:
            self.metrics.event(topic, "invalid", "dlq")
            log.warning(
                "invalid input", code=exc.code, reason=exc.message, topic=topic, offset=offset
            )
            await self.outputs.send(
                *self.outputs.dlq(
                    exc.code, exc.message, exc.event_id, value, key, topic, partition, offset
                )
            )
            return
        assert isinstance(event, ModelUpdate | CommandRollback | CommandOverride)
        self.metrics.event(topic, event.type, "routed")
        source = SourceOffset(topic=topic, partition=partition, offset=offset)
        await self.outputs.send("model_log", model_of(event).encode(), event_record(event, source))


class ModelShell(PartitionedShell[ModelPartition]):
    input_role = "model_log"
    state_role = "model_state"

    def __init__(
        self,
        specs: dict[str, ModelGateSpec],
        access: AccessSpec,
        version: str,
        catalog: Catalog,
        outputs: Outputs,
        bootstrap: str,
        metrics: Metrics,
    ) -> None:
        super().__init__(catalog, outputs, bootstrap)
        self.specs = specs
        self.access = access
        self.version = version
        self.metrics = metrics
        self.champions: dict[str, str | None] = {}

    def restore_engine(self, entries: list[tuple[str, Any]]) -> ModelPartition:
        part = ModelPartition.restore(self.specs, self.access, self.version, entries)
        for model, gate in part.gates.items():
            self.champions[model] = gate.champion
            self.metrics.set_champion(model, gate.champion)
        return part

    async def process_one(
        self,
        engine: ModelPartition,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        timestamp_ms: int | None = None,
    ) -> None:
        try:
            item, source = parse_record(value)
        except ContractError as exc:  # only our own router writes here; still never stall
            engine.skip(offset)
            await self.outputs.send(
                *self.outputs.dlq(
                    exc.code,
                    exc.message,
                    None,
                    value,
                    key,
                    self.catalog.name("model_log"),
                    partition,
                    offset,
                )
            )
            return
        model = (key or b"").decode()
        trigger = SourceOffset(
            topic=self.catalog.name("model_log"), partition=partition, offset=offset
        )
        effects = engine.handle(model, item, source, offset, utcnow(), trigger)
        await self.carry_out(effects, partition, key, value, source, timestamp_ms)

    async def carry_out(
        self,
        effects: list[Effect],
        partition: int,
        key: bytes | None,
        value: bytes | None,
        source: SourceOffset,
        trigger_ts_ms: int | None = None,
    ) -> None:
        for effect in effects:
            if isinstance(effect, StatePut):
                self.put(partition, effect)
            elif isinstance(effect, Decided):
                d = effect.decision
                self.metrics.decided(d, trigger_ts_ms)
                log.info(
                    "decision",
                    decision_id=d.decision_id,
                    subject=d.subject.id,
                    revision=d.revision,
                    outcome=d.outcome,
                    failed=[c.code for c in d.checks if not c.passed],
                )
                await self.outputs.send("audit", d.subject.id.encode(), encode(d))
            elif isinstance(effect, ChampionChanged):
                self.champions[effect.model] = effect.version
                self.metrics.set_champion(effect.model, effect.version)
                record = ChampionRecord(
                    model=effect.model,
                    version=effect.version,
                    decision_id=effect.decision_id,
                    since=datetime.now(UTC),
                )
                log.info(
                    "champion",
                    model=effect.model,
                    version=effect.version,
                    decision_id=effect.decision_id,
                )
                await self.outputs.send("champions", effect.model.encode(), encode(record))
            elif isinstance(effect, TrainingRequest):
                r = effect.request
                log.info("training requested", model=r.model, windows=len(r.windows))
                await self.outputs.send("training", r.model.encode(), encode(r))
            elif isinstance(effect, Rejected):
                log.warning(
                    "rejected", code=effect.code, event_id=effect.event_id, reason=effect.message
                )
                await self.outputs.send(
                    *self.outputs.dlq(
                        effect.code,
                        effect.message,
                        effect.event_id,
                        value,
                        key,
                        source.topic,
                        source.partition,
                        source.offset,
                    )
                )
