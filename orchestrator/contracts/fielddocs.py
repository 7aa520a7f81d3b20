"""What each field of the input events means, and a whole example of each event, for the
exported JSON Schema (`description`, `examples`): producers in other languages read the schema,
not this code. A field means the same in every event that has it. Every property of every
input type must have a description here, and every example must be accepted by the contract
(tests/unit/test_schema_docs.py)."""

from __future__ import annotations

from typing import Any

FIELDS: dict[str, str] = {
    "type": "The event type; it names the contract (and the topic the event goes to).",
    "v": "The contract's schema version for this type (1).",
    "event_id": "Unique per event: a repeat with the same content is a duplicate and is ignored; "
    "a repeat with other content is refused (E_DUPLICATE_CONFLICT).",
    "dataset": "The dataset (a file in gates/datasets/); also the record key.",
    "source": "Who or what produced the data or the measurement (one event-time watermark is "
    "kept per dataset and source).",
    "event_time": "When the data happened (RFC 3339 with an offset): the time windows are cut "
    "by; for a model.update, when it was trained.",
    "uri": "Where the batch landed (any URI the consumers can read).",
    "record_count": "How many records the batch holds.",
    "checksum": "The batch's checksum, as the producer computed it (e.g. sha256:...): part of "
    "the window's evidence.",
    "schema_fingerprint": "A fingerprint of the batch's schema; the data gate can require all "
    "of a window's batches to share one.",
    "produced_at": "When the producer sent it (informational; the broker's time is what counts).",
    "attributes": "Free-form key/value pairs kept with the arrival (strings, numbers, booleans).",
    "profile": "What the data looks like, per column (count, nulls, moments, bins or quantiles "
    "as the dataset policy declares): the drift checks' input.",
    "watermark": "The source asserts that no data older than this follows (RFC 3339).",
    "signature": "HMAC-SHA256 (hex) over the canonical event, with the actor's key (commands) "
    "or the worker's key (the reserved source `orchestrator`).",
    "model": "The model (a file in gates/models/); also the record key.",
    "version": "The model version (any name unique within the model, e.g. v7).",
    "artifact_uri": "Where the model's artifact is stored.",
    "artifact_digest": "The artifact's digest (e.g. sha256:...): part of the decision's evidence.",
    "metrics": "Metric name to number (within +-2^53), e.g. auc, recall: what the gate's "
    "thresholds and live guards compare.",
    "trained_on": "The window ids the version was trained on "
    "(DATASET/START/SIZE, e.g. clicks/2026-11-23T10:00:00Z/PT1H): its lineage.",
    "params": "Training parameters, free-form (strings, numbers, booleans).",
    "code_version": "The training code's version (e.g. a git commit).",
    "actor": "Who sends the command: an actor of gates/access.yaml, whose key signs it.",
    "reason": "Why, in words: recorded with the decision in the audit trail.",
    "issued_at": "When the command was issued (RFC 3339, signed as sent): a command older than "
    "the access policy's max_command_age is refused.",
    "nonce": "A random value (16 characters or more), signed: a command is obeyed once.",
    "to_version": "The version to roll back to (default: the previous clean champion).",
    "subject": "The model version the override is about: MODEL:VERSION (also the record key).",
    "outcome": "The outcome the override forces: promote or reject.",
    "interval_start": "The start of the measured interval (RFC 3339).",
    "interval_end": "The end of the measured interval (RFC 3339; not before its start).",
    "sample_count": "How many predictions the live metrics were measured on.",
    # a column of a data profile
    "count": "Non-null values in the column.",
    "nulls": "Null values in the column.",
    "mean": "Mean of the non-null values (when count > 0).",
    "std": "Population standard deviation of the non-null values (when count > 0).",
    "min": "Smallest non-null value (when count > 0).",
    "max": "Largest non-null value (when count > 0).",
    "bins": "Counts over the dataset policy's bin edges: below the first, each [edge, next), "
    "from the last up.",
    "quantiles": "Values at the dataset policy's probabilities, in order.",
}

#: the contract's types whose fields are documented above (and the nested profile column)
DOCUMENTED = (
    "data.arrival",
    "data.watermark",
    "model.update",
    "command.rollback",
    "command.override",
    "model.performance",
    "ColumnProfile",
)

EXAMPLE_SIGNATURE = "0" * 64  # an EXAMPLE: a real one is the HMAC of the event

EXAMPLES: dict[str, dict[str, Any]] = {
    "data.arrival": {
        "type": "data.arrival",
        "v": 1,
        "event_id": "clicks-eu-2026-11-23T10:05:00Z-0001",
        "dataset": "clicks",
        "source": "eu",
        "event_time": "2026-11-23T10:05:00Z",
        "uri": "s3://example-bucket/clicks/2026/11/23/10/part-0001.parquet",
        "record_count": 1200,
        "checksum": "sha256:4f2a9c0d",
        "profile": {
            "session_seconds": {
                "count": 1190,
                "nulls": 10,
                "mean": 42.5,
                "std": 12.0,
                "min": 1.0,
                "max": 300.0,
                "bins": [5, 400, 600, 185],
            }
        },
    },
    "data.watermark": {
        "type": "data.watermark",
        "v": 1,
        "event_id": "clicks-eu-wm-2026-11-23T11:00:00Z",
        "dataset": "clicks",
        "source": "eu",
        "watermark": "2026-11-23T11:00:00Z",
    },
    "model.update": {
        "type": "model.update",
        "v": 1,
        "event_id": "churn-v7-trained",
        "model": "churn",
        "version": "v7",
        "artifact_uri": "s3://example-models/churn/v7/model.pkl",
        "artifact_digest": "sha256:9b1c2d3e",
        "metrics": {"auc": 0.91, "accuracy": 0.88},
        "trained_on": ["clicks/2026-11-23T10:00:00Z/PT1H"],
        "code_version": "git:1a2b3c4",
    },
    "command.rollback": {
        "type": "command.rollback",
        "v": 1,
        "event_id": "rollback-churn-0001",
        "model": "churn",
        "actor": "alice",
        "reason": "v7 misbehaves on the EU traffic",
        "issued_at": "2026-11-23T12:00:00Z",
        "nonce": "5f0c1d2e3a4b5c6d7e8f9a0b",
        "signature": EXAMPLE_SIGNATURE,
    },
    "command.override": {
        "type": "command.override",
        "v": 1,
        "event_id": "override-churn-v7-0001",
        "subject": "churn:v7",
        "outcome": "promote",
        "actor": "bob",
        "reason": "reviewed by hand",
        "issued_at": "2026-11-23T12:05:00Z",
        "nonce": "6a1b2c3d4e5f6a7b8c9d0e1f",
        "signature": EXAMPLE_SIGNATURE,
    },
    "model.performance": {
        "type": "model.performance",
        "v": 1,
        "event_id": "fraud-v3-live-2026-11-23T10:00:00Z",
        "model": "fraud",
        "version": "v3",
        "interval_start": "2026-11-23T10:00:00Z",
        "interval_end": "2026-11-23T10:05:00Z",
        "metrics": {"recall": 0.87},
        "sample_count": 5000,
        "source": "serving-eu",
    },
}


def document(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` (of type `name`) with a description on each documented property (its nested
    profile column's too) and, for an input type, a whole example."""
    _describe(schema)
    for sub in (schema.get("$defs") or {}).values():
        _describe(sub)
    if name in EXAMPLES:
        schema["examples"] = [EXAMPLES[name]]
    return schema


def _describe(node: dict[str, Any]) -> None:
    for field, prop in (node.get("properties") or {}).items():
        if field in FIELDS and isinstance(prop, dict):
            prop.setdefault("description", FIELDS[field])
