"""JSON Schema export, so producers in any language can validate before sending (SPEC §2).

The schemas say what `produce` and the worker accept: `type` and `v` are required (the
contracts give them defaults only for Python callers), times are RFC 3339 with an offset, and
there is one schema per input topic (one of the types that topic carries) as well as one per
type. `tests/unit/test_schema_agreement.py` checks a corpus against both."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

from orchestrator.contracts.events import EVENT_TYPES, TOPIC_ROLE_FOR_TYPE
from orchestrator.contracts.fielddocs import DOCUMENTED, document
from orchestrator.contracts.records import (
    AuditDecision,
    ChampionRecord,
    DlqRecord,
    LateRecord,
    StateSnapshot,
    TrainingRequested,
    WindowManifest,
)
from orchestrator.contracts.roles import Role

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

DRAFT = "https://json-schema.org/draft/2020-12/schema"
#: where the schemas say they live: every `$id` is this base plus the file's relative path
BASE_URI = "https://ml-stream-orchestrator.example/schemas/"
#: the input topics' roles, in the catalog's terms, and the types each carries
INPUT_ROLES: dict[Role, list[str]] = {
    role: [t for t, r in TOPIC_ROLE_FOR_TYPE.items() if r == role]
    for role in dict.fromkeys(TOPIC_ROLE_FOR_TYPE.values())
}


def _require_type_and_v(node: Any) -> None:
    """Every object with a constant `type` and `v` (each record, and one nested in another)
    must carry both: `produce` and the worker refuse an event without them."""
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict) and all(
            isinstance(props.get(k), dict) and "const" in props[k] for k in ("type", "v")
        ):
            required = node.setdefault("required", [])
            for k in ("v", "type"):
                props[k].pop("default", None)
                if k not in required:
                    required.insert(0, k)
        for value in node.values():
            _require_type_and_v(value)
    elif isinstance(node, list):
        for value in node:
            _require_type_and_v(value)


def type_schema(name: str, base_uri: str = BASE_URI) -> dict[str, Any]:
    """The JSON Schema of one type (`data.arrival`, `audit.decision`, ...)."""
    schema: dict[str, Any] = ALL_SCHEMAS[name].model_json_schema()
    _require_type_and_v(schema)
    if name in DOCUMENTED:
        document(name, schema)
    schema["$schema"] = DRAFT
    schema["$id"] = f"{base_uri}{name}.schema.json"
    return schema


def topic_schema(topic: str, role: Role, base_uri: str = BASE_URI) -> dict[str, Any]:
    """The JSON Schema of a record value on an input topic: exactly one of its types (each
    embedded, so the file stands alone)."""
    types = INPUT_ROLES[role]
    defs = {}
    for name in types:
        embedded = copy.deepcopy(type_schema(name, base_uri))
        del embedded["$schema"], embedded["$id"]
        defs[name] = embedded
    return {
        "$schema": DRAFT,
        "$id": f"{base_uri}topics/{topic}.schema.json",
        "title": topic,
        "description": f"A record value on topic {topic} (role {role}): one of "
        + ", ".join(types)
        + ". The record key is the event's keyed field.",
        "oneOf": [{"$ref": f"#/$defs/{name}"} for name in types],
        "$defs": defs,
    }


def export(
    directory: Path, topics: Mapping[str, str] | None = None, base_uri: str = BASE_URI
) -> list[Path]:
    """Write `<type>.schema.json` for every contract and `topics/<topic>.schema.json` for
    every input topic (`topics`: role -> topic name; default: the role names); return the
    paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    schemas = {f"{name}.schema.json": type_schema(name, base_uri) for name in sorted(ALL_SCHEMAS)}
    for role in INPUT_ROLES:
        topic = (topics or {}).get(role, role)
        schemas[f"topics/{topic}.schema.json"] = topic_schema(topic, role, base_uri)
    for relative, schema in schemas.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        written.append(path)
    return written
