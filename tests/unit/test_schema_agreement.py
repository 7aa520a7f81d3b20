"""The exported JSON Schemas and `produce`/the worker agree: a corpus of good and bad events is
judged by the per-type schema, the per-topic schema, `produce`'s line validation and the
worker's decode, and every judge gives the same verdict (differential test)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.codec import decode
from orchestrator.contracts.events import KEY_FIELD, TOPIC_ROLE_FOR_TYPE
from orchestrator.contracts.schema import BASE_URI, INPUT_ROLES, export
from orchestrator.errors import ContractError
from orchestrator.produce import parse_lines
from tests import factories
from tests.conftest import ROOT, run_cli

CATALOG = Catalog.load(ROOT / "topics")
TOPICS = {role: CATALOG.name(role) for role in INPUT_ROLES}


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every exported schema by its path relative to the export directory."""
    directory = tmp_path_factory.mktemp("schemas")
    return {
        str(p.relative_to(directory)): json.loads(p.read_text()) for p in export(directory, TOPICS)
    }


def without(obj: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != field}


A, W, M = factories.arrival(), factories.watermark(), factories.model_update()
R, OV, P = factories.rollback(), factories.override(), factories.performance()

GOOD: dict[str, dict[str, Any]] = {
    "arrival": A,
    "watermark": W,
    "model-update": M,
    "rollback": R,
    "override": OV,
    "performance": P,
    "performance-source": {**P, "source": "serving-eu"},
    "performance-no-samples": {**P, "sample_count": 0},
    "performance-empty-interval": {**P, "interval_end": P["interval_start"]},
    "arrival-optional-fields": {
        **A,
        "schema_fingerprint": "sha256:f",
        "produced_at": "2026-11-23T10:06:00+01:00",
        "attributes": {"s": "1", "i": 3, "f": 0.5, "b": True, "n": None},
    },
    "v-as-1.0": {**A, "v": 1.0},
    "count-as-10.0": {**A, "record_count": 10.0},
    "count-zero": {**A, "record_count": 0},
    "count-int64-max": {**A, "record_count": 2**63 - 1},
    "time-offset": {**A, "event_time": "2026-11-23T15:35:00+05:30"},
    "time-lowercase": {**A, "event_time": "2026-11-23t10:05:00z"},
    "time-fraction": {**A, "event_time": "2026-11-23T10:05:00.123456789Z"},
    "time-leap-day": {**A, "event_time": "2028-02-29T00:00:00Z"},
    "time-year-9999": {**A, "event_time": "9999-12-31T23:59:59Z"},
    "event-id-200": {**A, "event_id": "e" * 200},
    "metrics-integer": {**M, "metrics": {"auc": 1}},
    "rollback-to-version": {**R, "to_version": "v0"},
}

BAD: dict[str, dict[str, Any]] = {
    "no-v": without(A, "v"),
    "no-type": without(A, "type"),
    "unknown-type": {**A, "type": "data.nope"},
    "v-2": {**A, "v": 2},
    "v-true": {**A, "v": True},
    "v-string": {**A, "v": "1"},
    "v-1.5": {**A, "v": 1.5},
    "count-string": {**A, "record_count": "10"},
    "count-true": {**A, "record_count": True},
    "count-negative": {**A, "record_count": -1},
    "count-fraction": {**A, "record_count": 1.5},
    "count-over-int64": {**A, "record_count": 2**63},
    "time-unix": {**A, "event_time": 1_763_892_300},
    "time-space": {**A, "event_time": "2026-11-23 10:05:00Z"},
    "time-no-offset": {**A, "event_time": "2026-11-23T10:05:00"},
    "time-comma-fraction": {**A, "event_time": "2026-11-23T10:05:00,5Z"},
    "time-hour-24": {**A, "event_time": "2026-11-23T24:00:00Z"},
    "time-february-30": {**A, "event_time": "2026-02-30T00:00:00Z"},
    "time-year-0": {**A, "event_time": "0000-01-01T00:00:00Z"},
    "time-offset-24": {**A, "event_time": "2026-11-23T10:00:00+24:00"},
    "no-dataset": without(A, "dataset"),
    "extra-field": {**A, "unexpected": 1},
    "event-id-empty": {**A, "event_id": ""},
    "event-id-10k": {**A, "event_id": "x" * 10_000},
    "attribute-nested": {**A, "attributes": {"a": [1]}},
    "metrics-string": {**M, "metrics": {"auc": "0.8"}},
    "metrics-true": {**M, "metrics": {"auc": True}},
    "metric-name-empty": {**M, "metrics": {"": 0.8}},
    "trained-on-string": {**M, "trained_on": "clicks/2026-11-23T10:00:00Z/PT1H"},
    "nonce-short": {**R, "nonce": "short"},
    "outcome-unknown": {**OV, "outcome": "maybe"},
    "watermark-no-source": without(W, "source"),
    "performance-negative-samples": {**P, "sample_count": -1},
    "performance-samples-string": {**P, "sample_count": "5000"},
    "performance-metric-string": {**P, "metrics": {"auc": "0.79"}},
    "performance-time-unix": {**P, "interval_start": 1_763_892_300},
    "performance-no-version": without(P, "version"),
    "array": [A],  # type: ignore[dict-item]
}

#: What a JSON Schema cannot say and the contracts refuse: a date the calendar lacks but the
#: pattern's month/day ranges allow, a time whose UTC value leaves years 1..9999, and an
#: integer beyond 64 bits in free-form attributes (a schema cannot tell 2**63 from the float
#: 9.223372036854775808e18, which attributes may hold), and a performance interval that ends
#: before it starts (a schema cannot compare two fields).
KNOWN_GAPS: dict[str, dict[str, Any]] = {
    "attribute-over-int64": {**A, "attributes": {"a": 2**63}},
    "time-february-29-2027": {**A, "event_time": "2027-02-29T00:00:00Z"},
    "time-utc-in-year-10000": {**A, "event_time": "9999-12-31T23:00:00-05:00"},
    "performance-interval-reversed": {**P, "interval_end": "2026-11-23T11:00:00Z"},
}


def schema_valid(schema: dict[str, Any], obj: Any) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(obj)


def produce_valid(obj: Any) -> bool:
    parsed = parse_lines([orjson.dumps(obj)])
    return bool(parsed.events) and not parsed.errors


def worker_valid(obj: Any, role: str) -> bool:
    """The worker's decode of the record as a well-behaved producer keys it."""
    key_field = KEY_FIELD.get(obj.get("type", "")) if isinstance(obj, dict) else None
    key = obj.get(key_field) if key_field else None
    try:
        decode(orjson.dumps(obj), key.encode() if isinstance(key, str) else b"k", topic_role=role)
    except ContractError:
        return False
    return True


def intended_role(obj: Any) -> str:
    """The topic a producer meant the event for (its type's, else the arrivals topic)."""
    etype = obj.get("type") if isinstance(obj, dict) else None
    return TOPIC_ROLE_FOR_TYPE.get(etype, "arrivals") if isinstance(etype, str) else "arrivals"


def verdicts(schemas: dict[str, dict[str, Any]], obj: Any) -> dict[str, bool]:
    role = intended_role(obj)
    topic = schemas[f"topics/{TOPICS[role]}.schema.json"]
    out = {
        "topic schema": schema_valid(topic, obj),
        "produce": produce_valid(obj),
        "worker": worker_valid(obj, role),
    }
    etype = obj.get("type") if isinstance(obj, dict) else None
    if f"{etype}.schema.json" in schemas:
        out["type schema"] = schema_valid(schemas[f"{etype}.schema.json"], obj)
    return out


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_events_pass_every_judge(schemas: dict[str, dict[str, Any]], name: str) -> None:
    """A good event is valid for its type's schema, its topic's schema, produce and the worker."""
    result = verdicts(schemas, GOOD[name])
    assert all(result.values()), result


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_events_fail_every_judge(schemas: dict[str, dict[str, Any]], name: str) -> None:
    """A bad event is refused by every judge that can see it (no schema passes what produce
    refuses, and the reverse)."""
    result = verdicts(schemas, BAD[name])
    assert not any(result.values()), result


@pytest.mark.parametrize("name", sorted(KNOWN_GAPS))
def test_known_gaps_are_only_these(schemas: dict[str, dict[str, Any]], name: str) -> None:
    """The schemas' documented limit: they pass these, produce and the worker refuse them."""
    result = verdicts(schemas, KNOWN_GAPS[name])
    assert result == {"topic schema": True, "type schema": True, "produce": False, "worker": False}


def test_an_event_on_the_wrong_topic_fails_that_topics_schema_and_the_worker(
    schemas: dict[str, dict[str, Any]],
) -> None:
    """Each topic's schema takes exactly the types the worker takes on that topic."""
    for role, topic in TOPICS.items():
        schema = schemas[f"topics/{topic}.schema.json"]
        for obj in (A, W, M, R, OV):
            accepted = TOPIC_ROLE_FOR_TYPE[obj["type"]] == role
            assert schema_valid(schema, obj) == accepted == worker_valid(obj, role), (topic, obj)


def test_type_and_v_are_required_and_ids_absolute(schemas: dict[str, dict[str, Any]]) -> None:
    """Every record's schema requires `type` and `v` (nested records too) and has an absolute
    https `$id` under one base: its file's path."""
    for path, schema in schemas.items():
        assert schema["$id"] == f"{BASE_URI}{path}" and BASE_URI.startswith("https://")
        if not path.startswith("topics/"):
            assert schema["required"][:2] == ["v", "type"] or {"type", "v"} <= set(
                schema["required"]
            ), path
            assert "default" not in schema["properties"]["v"]
    late = schemas["data.late.schema.json"]["$defs"]["DataArrival"]
    assert {"type", "v"} <= set(late["required"])


def test_one_schema_per_type_and_per_input_topic(schemas: dict[str, dict[str, Any]]) -> None:
    """The export holds a schema per type and, named by the catalog, one per input topic,
    whose types are the ones the catalog says the topic carries."""
    topic_files = {p for p in schemas if p.startswith("topics/")}
    assert topic_files == {f"topics/{t}.schema.json" for t in TOPICS.values()}
    for role, topic in TOPICS.items():
        refs = [r["$ref"] for r in schemas[f"topics/{topic}.schema.json"]["oneOf"]]
        assert refs == [f"#/$defs/{t}" for t in INPUT_ROLES[role]]
        assert sorted(INPUT_ROLES[role]) == sorted(CATALOG.specs[role].value)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            without(A, "v"),
            "line 1: E_UNKNOWN_TYPE: field 'v': missing; add \"v\": 1 "
            "(the schema version of data.arrival)",
        ),
        (
            {**A, "v": 2},
            "line 1: E_UNKNOWN_TYPE: field 'v': schema version 2 of data.arrival is not "
            'supported; use "v": 1',
        ),
        (
            without(A, "type"),
            'line 1: E_UNKNOWN_TYPE: field \'type\': missing; add "type": one of "data.arrival", '
            '"data.watermark", "model.update", "command.rollback", "command.override", '
            '"model.performance"',
        ),
        (
            {**A, "type": "data.arival"},
            "line 1: E_UNKNOWN_TYPE: field 'type': unknown event type 'data.arival'; use "
            '"type": one of "data.arrival", "data.watermark", "model.update", '
            '"command.rollback", "command.override", "model.performance"',
        ),
        (
            {**A, "event_time": 1_763_892_300},
            "line 1: E_SCHEMA: field 'event_time': Input should be an RFC 3339 date-time with "
            "an offset, e.g. 2026-11-23T10:00:00Z",
        ),
        (
            {**A, "record_count": "10"},
            "line 1: E_SCHEMA: field 'record_count': Input should be a valid integer",
        ),
    ],
    ids=["no-v", "v-2", "no-type", "unknown-type", "time-unix", "count-string"],
)
def test_produce_says_what_to_add_or_change(obj: dict[str, Any], message: str) -> None:
    """Each refusal names the field and what to write instead."""
    parsed = parse_lines([orjson.dumps(obj)])
    assert [str(e) for e in parsed.errors] == [message]


def test_produce_cli_reports_the_missing_version(tmp_path: Path) -> None:
    """`orchestrator produce` on a line without `v`: exact message, exit 1, nothing sent (no
    broker needed: nothing is sent when a line is invalid)."""
    events = tmp_path / "events.jsonl"
    events.write_bytes(orjson.dumps(without(A, "v")) + b"\n")
    out = run_cli("produce", str(events), "--topics", str(ROOT / "topics"))
    assert out.returncode == 1
    assert f"{events}: line 1: E_UNKNOWN_TYPE: field 'v': missing; add \"v\": 1 " in out.stderr
