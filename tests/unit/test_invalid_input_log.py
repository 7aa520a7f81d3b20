"""An invalid input's log line names its event id when one could be read (SPEC §7: logs carry
event_id), for data arrivals and for the router's model inputs alike."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import structlog
from structlog.testing import capture_logs

import orchestrator.worker.eventtime
import orchestrator.worker.models
from orchestrator.catalog.topics import Catalog
from orchestrator.pipeline.build import Logics
from orchestrator.pipeline.models import Cursor
from orchestrator.pipeline.records import Rec
from orchestrator.policies import Policies
from orchestrator.worker.eventtime import EventTimeObserver
from orchestrator.worker.metrics import Metrics
from orchestrator.worker.models import RouterObserver
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 26, tzinfo=UTC)
LOGICS = Logics(Policies.load(ROOT / "gates"), Catalog.load(ROOT / "topics"))


@pytest.fixture(autouse=True)
def fresh_loggers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The observers' module loggers, uncached: a test that ran `logging.configure` before
    (cache_logger_on_first_use) would otherwise keep them writing to its own stream."""
    for module in (orchestrator.worker.eventtime, orchestrator.worker.models):
        monkeypatch.setattr(module, "log", structlog.get_logger(module.__name__))


def invalid(event: dict[str, object]) -> bytes:
    del event["checksum" if event["type"] == "data.arrival" else "artifact_uri"]
    return orjson.dumps(event)


def test_an_invalid_arrival_is_logged_with_its_event_id() -> None:
    logic = LOGICS.eventtime
    record = Rec("data.arrivals", 0, 7, b"clicks", invalid(factories.arrival("bad-1")))
    applied = logic.apply(logic.new_engine(), record, NOW)
    observer = EventTimeObserver("data.arrivals", Metrics(datasets=["clicks"]), lambda: 0.0)
    with capture_logs() as logs:
        observer.applied(applied, record)
    (line,) = [x for x in logs if x["event"] == "invalid input"]
    assert (line["code"], line["event_id"], line["offset"]) == ("E_SCHEMA", "bad-1", 7)


def test_an_invalid_model_update_is_logged_with_its_event_id() -> None:
    logic = LOGICS.router
    record = Rec("models.updates", 0, 3, b"churn", invalid(factories.model_update("m-bad")))
    applied = logic.apply(Cursor(), record, NOW)
    with capture_logs() as logs:
        RouterObserver(Metrics(models=["churn"])).applied(applied, record)
    (line,) = [x for x in logs if x["event"] == "invalid input"]
    assert (line["code"], line["event_id"], line["offset"]) == ("E_SCHEMA", "m-bad", 3)
