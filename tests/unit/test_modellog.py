"""The `models.log` entries as a contract: what the router and the fan-out write is read back
exactly, anything else is refused with E_SCHEMA, and each input belongs to one model's log."""

from __future__ import annotations

import orjson
import pytest

from orchestrator.contracts import decode
from orchestrator.contracts.events import (
    CommandOverride,
    CommandRollback,
    ModelPerformance,
    ModelUpdate,
)
from orchestrator.contracts.modellog import (
    DataNotice,
    LoggedEvent,
    event_record,
    model_of,
    notice_record,
    parse_entry,
)
from orchestrator.contracts.records import SourceOffset
from orchestrator.errors import ContractError
from tests import factories

SOURCE = SourceOffset(topic="models.updates", partition=2, offset=41)


def test_an_event_entry_reads_back_as_written() -> None:
    update = decode(orjson.dumps(factories.model_update("u1", version="v7")))
    value = event_record(update, SOURCE, 1_795_478_400_123)  # type: ignore[arg-type]
    assert orjson.loads(value) == {
        "kind": "event",
        "event": orjson.loads(orjson.dumps(factories.model_update("u1", version="v7"))),
        "source": {"topic": "models.updates", "partition": 2, "offset": 41},
        "timestamp": 1_795_478_400_123,
    }
    entry = parse_entry(value)
    assert isinstance(entry, LoggedEvent)
    assert (entry.event, entry.source, entry.timestamp) == (update, SOURCE, 1_795_478_400_123)


def test_an_event_entry_without_a_broker_time_has_no_timestamp() -> None:
    update = decode(orjson.dumps(factories.model_update()))
    value = event_record(update, SOURCE)  # type: ignore[arg-type]
    assert "timestamp" not in orjson.loads(value)
    entry = parse_entry(value)
    assert isinstance(entry, LoggedEvent) and entry.timestamp is None


def test_a_notice_entry_reads_back_as_written() -> None:
    source = SourceOffset(topic="data.arrivals", partition=0, offset=9)
    value = notice_record("clicks/2026-11-23T10:00:00Z/PT1H", "reject", "sha256:d1", source)
    assert orjson.loads(value) == {
        "kind": "data",
        "window_id": "clicks/2026-11-23T10:00:00Z/PT1H",
        "outcome": "reject",
        "decision_id": "sha256:d1",
        "source": {"topic": "data.arrivals", "partition": 0, "offset": 9},
    }
    assert parse_entry(value) == DataNotice(
        window_id="clicks/2026-11-23T10:00:00Z/PT1H",
        outcome="reject",
        decision_id="sha256:d1",
        source=source,
    )


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"{not json",
        b"[]",
        b'{"kind": "other"}',
        b'{"kind": "data", "window_id": "w", "outcome": "promote", "decision_id": "d"}',
        b'{"kind": "event", "event": {"type": "data.arrival"}, "source": {}}',
    ],
)
def test_anything_else_is_refused_as_a_schema_error(value: bytes | None) -> None:
    with pytest.raises(ContractError) as caught:
        parse_entry(value)
    assert caught.value.code == "E_SCHEMA"
    assert caught.value.message.startswith("not a models.log record: ")


def test_each_input_belongs_to_its_model_s_log() -> None:
    update = decode(orjson.dumps(factories.model_update(model="fraud")))
    rollback = decode(orjson.dumps(factories.rollback(model="churn")))
    override = decode(orjson.dumps(factories.override(subject="ranker:2026:11")))
    assert isinstance(update, ModelUpdate) and model_of(update) == "fraud"
    assert isinstance(rollback, CommandRollback) and model_of(rollback) == "churn"
    assert isinstance(override, CommandOverride) and model_of(override) == "ranker"


def test_a_performance_event_rides_the_updates_topic_into_its_model_s_log() -> None:
    """model.performance is keyed by model on models.updates and round-trips through models.log."""
    perf = decode(orjson.dumps(factories.performance()), b"churn", topic_role="model_updates")
    assert isinstance(perf, ModelPerformance) and model_of(perf) == "churn"
    entry = parse_entry(event_record(perf, SOURCE, 5))
    assert isinstance(entry, LoggedEvent) and entry.event == perf


@pytest.mark.parametrize(
    ("obj", "key", "role", "code"),
    [
        (factories.performance(), b"churn", "commands", "E_UNKNOWN_TYPE"),
        (factories.performance(), b"fraud", "model_updates", "E_KEY_MISMATCH"),
        ({**factories.performance(), "sample_count": -1}, b"churn", "model_updates", "E_SCHEMA"),
        (
            {**factories.performance(), "interval_end": "2026-11-23T11:59:59Z"},
            b"churn",
            "model_updates",
            "E_SCHEMA",
        ),
    ],
)
def test_a_bad_performance_event_is_refused_with_a_code(
    obj: dict[str, object], key: bytes, role: str, code: str
) -> None:
    """On the wrong topic, keyed wrongly, a negative count or a reversed interval: dlq codes."""
    with pytest.raises(ContractError) as caught:
        decode(orjson.dumps(obj), key, topic_role=role)
    assert caught.value.code == code
