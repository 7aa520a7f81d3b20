"""Producers in other languages read the exported JSON Schema: every field of every input
type says what it means, and each type has a whole example that the contract accepts and the
schema validates."""

from __future__ import annotations

from typing import Any

import jsonschema
import orjson
import pytest

from orchestrator.contracts.codec import parse_obj
from orchestrator.contracts.events import EVENT_TYPES
from orchestrator.contracts.fielddocs import EXAMPLES
from orchestrator.contracts.schema import type_schema


def properties(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = list((schema.get("properties") or {}).items())
    for sub in (schema.get("$defs") or {}).values():
        out += (sub.get("properties") or {}).items()
    return out


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_every_field_of_an_input_type_is_described(name: str) -> None:
    schema = type_schema(name)
    undescribed = [f for f, p in properties(schema) if not p.get("description")]
    assert not undescribed, f"{name}: no description for {undescribed}"


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_each_input_type_has_an_example_the_contract_and_the_schema_accept(name: str) -> None:
    schema = type_schema(name)
    (example,) = schema["examples"]
    jsonschema.Draft202012Validator(schema).validate(example)
    event = parse_obj(orjson.loads(orjson.dumps(example)))
    assert event.type == name
    assert EXAMPLES[name] == example


def test_output_records_are_not_described_with_input_meanings() -> None:
    """`outcome` of a decision is not an override's: only input types take these texts."""
    decision = type_schema("audit.decision")
    assert "description" not in decision["properties"]["outcome"]
