"""The engine's state keys survive any event id or source name: restore splits a key into
dataset, kind and ident at the first two separators only."""

from __future__ import annotations

from typing import Any

import orjson

from orchestrator.contracts import decode
from orchestrator.core.engine import EventTimeEngine
from orchestrator.core.policy import DatasetSpec
from orchestrator.core.windows import SEP
from tests import factories

SPEC = DatasetSpec("clicks", window_ms=3_600_000, out_of_orderness_ms=0, allowed_lateness_ms=0)


def ev(obj: dict[str, Any]) -> Any:
    return decode(orjson.dumps(obj))


def test_state_with_the_key_separator_in_ids_restores_unchanged() -> None:
    """An event id and a source name holding the separator (the contracts allow any character)
    come back from snapshot → restore as they were, dedupe included."""
    engine = EventTimeEngine({"clicks": SPEC})
    arrival = factories.arrival(f"a{SEP}b{SEP}c", source=f"eu{SEP}1")
    engine.handle(ev(arrival), 0, 0)
    state = engine.snapshot()
    restored = EventTimeEngine.restore({"clicks": SPEC}, state.items())
    assert restored.snapshot() == state
    assert type(restored.handle(ev(arrival), 0, 1)[0]).__name__ == "Duplicate"
