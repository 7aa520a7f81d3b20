"""Golden audit records (tests/golden/README.md): compare a record with its reviewed file, or
renew it with UPDATE_GOLDEN=1."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from orchestrator.contracts import encode
from orchestrator.contracts.records import AuditDecision
from orchestrator.contracts.wire import decision_wire

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def golden(name: str, record: dict[str, Any]) -> None:
    path = GOLDEN / f"{name}.json"
    text = orjson.dumps(record, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text(), f"{path} differs: review the change, then UPDATE_GOLDEN=1"


def golden_decision(name: str, d: AuditDecision) -> None:
    """The decision as the pipeline writes it (`decision_wire`, which must be byte for byte
    `encode`), pinned."""
    assert decision_wire(d) == encode(d)
    golden(name, orjson.loads(decision_wire(d)))
