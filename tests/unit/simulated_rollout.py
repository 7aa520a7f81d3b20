"""fraud's models.log as the simulator's staged rollout writes it (the demo's phases sent one
after the other), derived by the pipeline from the shipped gates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from orchestrator.catalog.topics import Catalog
from orchestrator.kafka.read import TimedRecord
from orchestrator.pipeline.build import Logics
from orchestrator.policies import Policies
from orchestrator.replay import MemorySource, Range, derive_data
from orchestrator.replay.derive import route
from orchestrator.replay.ledger import LogEntry
from orchestrator.simulate import EXAMPLE_KEYS, Phase, generate
from tests.conftest import ROOT

POLICIES = Policies.load(ROOT / "gates")
LOGICS = Logics(POLICIES, Catalog.load(ROOT / "topics"), dict(EXAMPLE_KEYS))
APPENDED_MS = 1_795_478_400_000  # 2026-11-24T00:00:00Z: the broker time of every record
ISSUED = datetime.fromtimestamp(APPENDED_MS / 1000, UTC)  # commands are fresh at that time


def records(events: list[dict[str, Any]], key: str) -> list[TimedRecord]:
    return [(i, e[key].encode(), orjson.dumps(e), APPENDED_MS + i) for i, e in enumerate(events)]


def fraud_notices(phases: list[Phase], upto: int) -> list[LogEntry]:
    """fraud's data notices once the payments arrivals of phases[:upto] are decided."""
    events = [e for p in phases[:upto] for e in p.events if e.get("dataset") == "payments"]
    source = MemorySource({"data.arrivals": {0: records(events, "dataset")}})
    data = derive_data(LOGICS, source, Range(), processes=1)
    return [e for e in data.log if e.key == b"fraud"]


def routed(events: list[dict[str, Any]], topic: str, role: str, key: str) -> list[LogEntry]:
    mine = [e for e in events if e.get(key) == "fraud" or e.get("subject", "").startswith("fraud")]
    return route(LOGICS, MemorySource({topic: {0: records(mine, key)}}))


def fraud_log(seed: int) -> list[TimedRecord]:
    """fraud's models.log when each phase is sent once the one before is decided: the data
    phase's notices, the models phase, the close phase's notices, the live phase, the
    commands."""
    phases = generate(POLICIES, EXAMPLE_KEYS, seed=seed, issued_at=ISSUED)
    assert [p.name for p in phases] == ["data", "models", "close", "live", "commands", "drift"]
    by_name = {p.name: p for p in phases}
    updates = "models.updates"
    data_notices = fraud_notices(phases, 1)
    close_notices = fraud_notices(phases, 3)[len(data_notices) :]
    log = [
        *data_notices,
        *routed(by_name["models"].events, updates, "model_updates", "model"),
        *close_notices,
        *routed(by_name["live"].events, updates, "model_updates", "model"),
        *routed(by_name["commands"].events, "commands", "commands", "model"),
    ]
    return [(i, e.key, e.value, APPENDED_MS) for i, e in enumerate(log)]
