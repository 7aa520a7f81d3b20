"""`data.arrivals` records through the event-time core: windows, decisions, late arrivals,
dlq envelopes and the notices of the data → model fan-out, as output records."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from orchestrator.contracts.fast import decode_arrival
from orchestrator.core.datagate import DataGate
from orchestrator.core.engine import EventTimeEngine
from orchestrator.core.policy import DatasetSpec
from orchestrator.core.windows import SEP
from orchestrator.errors import E_UNTRUSTED_TIME, ContractError
from orchestrator.pipeline.records import Applied, InputRecord, record_key
from orchestrator.pipeline.recordtime import LOG_APPEND_TIME, BrokerTime, RecordTime
from orchestrator.pipeline.render import Scene, invalid, refused, render


class EventTimeLogic:
    """Pure: `apply(engine, record, now) -> Applied`. One instance serves every partition."""

    def __init__(
        self,
        specs: Mapping[str, DatasetSpec],
        gates: Mapping[str, Callable[[], DataGate]],
        fanout: Mapping[str, Sequence[str]],
        arrivals_topic: str,
        dlq_limit: int,
        worker_key: bytes | None = None,
        record_time: RecordTime | None = None,
    ) -> None:
        self.worker_key = worker_key
        #: whose record times count (default: the broker's, LogAppendTime)
        self.record_time: RecordTime = record_time or BrokerTime()
        #: broker time: a LogAppendTime stamp is taken as it is (the common case, inline)
        self._broker = isinstance(self.record_time, BrokerTime)
        self.specs = dict(specs)
        self.gates = dict(gates)
        self.fanout = dict(fanout)
        self.topic = arrivals_topic
        self.dlq_limit = dlq_limit

    def new_engine(self) -> EventTimeEngine:
        return EventTimeEngine(self.specs, self.gates, self.worker_key, self.fanout)

    def restore(self, entries: list[tuple[str, Any]]) -> EventTimeEngine:
        return EventTimeEngine.restore(
            self.specs, entries, self.gates, self.worker_key, self.fanout
        )

    # -- scopes: a dataset's state is all one arrivals record can touch -------------------

    def scope(self, key: str) -> str:
        return key.partition(SEP)[0]

    def record_scope(self, record: InputRecord) -> str | None:
        return record_key(record)

    def rebuild(self, engine: EventTimeEngine, scope: str, entries: list[tuple[str, Any]]) -> None:
        engine.rebuild(scope, entries)

    def apply(self, engine: EventTimeEngine, record: InputRecord, now: datetime) -> Applied:
        partition, offset = record.partition, record.offset
        try:
            # codec.decode(..., topic_role="arrivals"), msgspec-decoded in the common case
            event = decode_arrival(record.value, record.key)
        except ContractError as exc:
            engine.skip(offset)
            return invalid(record, exc, now, self.dlq_limit)
        time = record.timestamp
        if not (self._broker and record.timestamp_type == LOG_APPEND_TIME and time >= 0):
            judged = self.record_time.arrival_ms(record, now)
            if type(judged) is str:  # no record time to judge its event time against: refused
                engine.skip(offset)
                return refused(
                    record,
                    E_UNTRUSTED_TIME,
                    judged,
                    event.event_id,
                    now,
                    self.dlq_limit,
                    event.type,
                )
            time = cast(int, judged)
        effects = engine.handle(event, partition, offset, now, time)
        return render(event.type, effects, Scene(record, now, self.dlq_limit, self.topic))
