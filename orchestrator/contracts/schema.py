"""JSON Schema export, so producers in any language can validate before sending (SPEC §2)."""

from __future__ import annotations

from pathlib import Path

import orjson
from pydantic import BaseModel

from orchestrator.contracts.events import EVENT_TYPES
from orchestrator.contracts.records import (
    AuditDecision,
    ChampionRecord,
    DlqRecord,
    LateRecord,
    StateSnapshot,
    TrainingRequested,
    WindowManifest,
)

ALL_SCHEMAS: dict[str, type[BaseModel]] = {
    **EVENT_TYPES,
    "data.window": WindowManifest,
    "data.late": LateRecord,
    "dlq.record": DlqRecord,
    "audit.decision": AuditDecision,
    "model.champion": ChampionRecord,
    "training.requested": TrainingRequested,
    "state.snapshot": StateSnapshot,
}


def export(directory: Path) -> list[Path]:
    """Write `<type>.schema.json` for every contract; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in sorted(ALL_SCHEMAS.items()):
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"{name}.schema.json"
        path = directory / f"{name}.schema.json"
        path.write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        written.append(path)
    return written
