"""The model side as records in, records out: the router that sequences updates and commands
into `models.log`, and the model gate that reads it (decisions, champions, training)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from orchestrator.contracts.codec import decode, encode
from orchestrator.contracts.modellog import (
    DataNotice,
    LoggedEvent,
    RoutedEvent,
    event_record,
    model_of,
    parse_entry,
    received_bytes,
)
from orchestrator.contracts.records import SourceOffset
from orchestrator.contracts.roles import Role
from orchestrator.core.access import AccessSpec
from orchestrator.core.effects import StatePut
from orchestrator.core.modelgate import SEP, ModelInput
from orchestrator.core.modelpartition import ModelPartition
from orchestrator.core.modelspec import ModelGateSpec
from orchestrator.core.position import Positioned
from orchestrator.errors import E_UNKNOWN_MODEL, ContractError
from orchestrator.pipeline.records import Applied, InputRecord, Output, record_key
from orchestrator.pipeline.recordtime import BrokerTime, RecordTime
from orchestrator.pipeline.render import Scene, invalid, refused, render


class Cursor(Positioned):
    """The engine of a stateless partition: only the position (the router's input)."""

    def position_entry(self) -> StatePut:
        raise NotImplementedError("a stateless partition keeps no changelog")


class RouterLogic:
    """`models.updates` and `commands` records -> `models.log` entries keyed by model: each
    entry carries the record's bytes as received and the time its record is judged by."""

    def __init__(
        self,
        roles: Mapping[str, Role],
        dlq_limit: int,
        record_time: RecordTime | None = None,
        models: Iterable[str] | None = None,
    ) -> None:
        #: topic name -> catalog role ("model_updates" or "commands")
        self.roles = dict(roles)
        self.dlq_limit = dlq_limit
        self.record_time: RecordTime = record_time or BrokerTime()
        #: the models with a policy (None: every model is forwarded; the gate refuses)
        self.models = frozenset(models) if models is not None else None

    def new_engine(self) -> Cursor:
        return Cursor()

    def apply(self, engine: Cursor, record: InputRecord, now: datetime) -> Applied:
        engine.position = record.offset + 1
        try:
            event = decode(record.value, record.key, topic_role=self.roles[record.topic])
        except ContractError as exc:
            return invalid(record, exc, now, self.dlq_limit)
        routed = cast(RoutedEvent, event)
        model = model_of(routed)
        if self.models is not None and model not in self.models:
            message = f"field 'model': no policy for model {model!r} in gates/models"
            return refused(
                record, E_UNKNOWN_MODEL, message, event.event_id, now, self.dlq_limit, event.type
            )
        source = SourceOffset(topic=record.topic, partition=record.partition, offset=record.offset)
        entry = event_record(record.value or b"", source, self.record_time.command_ms(record, now))
        return Applied(event.type, "routed", [Output("model_log", model.encode(), entry)])


class ModelLogic:
    """`models.log` entries through the model gates of their partition."""

    def __init__(
        self,
        specs: Mapping[str, ModelGateSpec],
        access: AccessSpec,
        version: str,
        log_topic: str,
        dlq_limit: int,
    ) -> None:
        self.specs = dict(specs)
        self.access = access
        self.version = version
        self.topic = log_topic
        self.dlq_limit = dlq_limit

    def new_engine(self) -> ModelPartition:
        return ModelPartition(self.specs, self.access, self.version)

    def restore(self, entries: list[tuple[str, Any]]) -> ModelPartition:
        return ModelPartition.restore(self.specs, self.access, self.version, entries)

    # -- scopes: a model's gate is all one models.log record can touch --------------------

    def scope(self, key: str) -> str:
        parts = key.split(SEP, 2)
        return parts[1] if len(parts) == 3 else ""

    def record_scope(self, record: InputRecord) -> str | None:
        return record_key(record)

    def rebuild(self, engine: ModelPartition, scope: str, entries: list[tuple[str, Any]]) -> None:
        engine.rebuild(scope, entries)

    def apply(self, engine: ModelPartition, record: InputRecord, now: datetime) -> Applied:
        try:
            entry = parse_entry(record.value)
        except ContractError as exc:  # only our own router and data gate write here
            engine.skip(record.offset)
            return invalid(record, exc, now, self.dlq_limit, named=False)
        item: ModelInput = entry if isinstance(entry, DataNotice) else entry.event
        model = (record.key or b"").decode("utf-8", "replace")
        trigger = SourceOffset(topic=self.topic, partition=record.partition, offset=record.offset)
        received = entry.timestamp if isinstance(entry, LoggedEvent) else None
        effects = engine.handle(model, item, entry.source, record.offset, now, trigger, received)
        event_type = entry.event.type if isinstance(entry, LoggedEvent) else "data.notice"

        def original() -> bytes | None:
            """The bytes the router received (entries written before it kept them: re-encoded)."""
            if isinstance(item, DataNotice):
                return record.value
            return received_bytes(record.value or b"") or encode(item)

        scene = Scene(record, now, self.dlq_limit, original=original, original_source=entry.source)
        return render(event_type, effects, scene, item)
