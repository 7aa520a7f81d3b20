"""Whose time a record carries, and when the worker trusts it (SPEC §5, trust boundary).

Event times are judged against a record's time (`max_future_skew`) and commands against it
(`max_command_age`). A producer sets a record's time unless the topic is `LogAppendTime`, so:

- `BrokerTime` (record_time=broker, the default): only a time the broker stamped counts. An
  arrival whose record was stamped by its sender (CreateTime), or carries no time, is refused
  (E_UNTRUSTED_TIME); a command read from such a record has no time and is judged not fresh.
  Deterministic: replay judges alike from the log.
- `ProducerTime` (record_time=producer, an explicit opt-in where the broker cannot stamp):
  the sender's time is bounded by the worker's own clock. An arrival with no time, or stamped
  further ahead of the worker's clock than `skew_ms`, is refused (E_UNTRUSTED_TIME: the dlq
  record is what the clock said, in the log); commands are judged against the worker's clock
  when the router reads them, written into `models.log` (the model gate's input) with them.
- `RecordedProducerTime`: replay of a producer-time run. The worker's clock cannot be read back,
  but its judgements are in the log: the arrivals the dlq says were refused as E_UNTRUSTED_TIME
  are refused again, and the router's times are taken from `models.log` (not compared).
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from typing import Protocol

from orchestrator.core.timeutil import format_rfc3339_ms
from orchestrator.pipeline.records import InputRecord

#: Kafka's record timestamp types (a record batch's attribute; aiokafka's `timestamp_type`)
CREATE_TIME = 0
LOG_APPEND_TIME = 1


def _ms(now: datetime) -> int:
    delta = now.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


class RecordTime(Protocol):
    """How the pipeline reads a record's time."""

    def arrival_ms(self, record: InputRecord, now: datetime) -> int | str:
        """The time an arrival's event time is judged against, or why there is none."""
        ...

    def command_ms(self, record: InputRecord, now: datetime) -> int | None:
        """The time a routed input (a command's age) is judged against (None: none)."""
        ...


class BrokerTime:
    """Only the broker's time counts (input topics are LogAppendTime)."""

    def _stamped(self, record: InputRecord) -> int | None:
        ts = record.timestamp
        if record.timestamp_type != LOG_APPEND_TIME or ts is None or ts < 0:
            return None
        return ts

    def arrival_ms(self, record: InputRecord, now: datetime) -> int | str:
        ts = self._stamped(record)
        if ts is not None:
            return ts
        if record.timestamp_type != LOG_APPEND_TIME:
            return (
                f"the record's time ({record.timestamp}) was set by its sender (CreateTime), "
                "and the worker reads broker time (record_time=broker): the topic must be "
                "LogAppendTime"
            )
        return "the record carries no broker time"

    def command_ms(self, record: InputRecord, now: datetime) -> int | None:
        return self._stamped(record)


class ProducerTime:
    """The sender's time, bounded by the worker's clock (`now`)."""

    def __init__(self, skew_ms: int) -> None:
        self.skew_ms = skew_ms

    def arrival_ms(self, record: InputRecord, now: datetime) -> int | str:
        ts = record.timestamp
        if ts is None or ts < 0:
            return "the record carries no time"
        clock = _ms(now)
        if ts > clock + self.skew_ms:
            return (
                f"the record's time {format_rfc3339_ms(ts)} is ahead of the worker's clock "
                f"{format_rfc3339_ms(clock)} by more than record_time_skew "
                f"({self.skew_ms} ms)"
            )
        return ts

    def command_ms(self, record: InputRecord, now: datetime) -> int | None:
        return _ms(now)


class RecordedProducerTime:
    """Replay of a ProducerTime run: the worker's refusals read back from the dlq."""

    def __init__(self, refused: AbstractSet[tuple[str, int, int]]) -> None:
        #: (topic, partition, offset) of every record the dlq says was E_UNTRUSTED_TIME
        self.refused = refused

    def arrival_ms(self, record: InputRecord, now: datetime) -> int | str:
        ts = record.timestamp
        if ts is None or ts < 0:
            return "the record carries no time"
        if (record.topic, record.partition, record.offset) in self.refused:
            return "refused by the worker's clock (recorded in the dlq)"
        return ts

    def command_ms(self, record: InputRecord, now: datetime) -> int | None:
        return None  # the worker's clock is in models.log; router entries are compared without
