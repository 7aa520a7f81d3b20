"""Valid example events for tests: plain dicts, so tests can break them field by field."""

from __future__ import annotations

from typing import Any


def arrival(
    event_id: str = "a1",
    dataset: str = "clicks",
    source: str = "eu",
    event_time: str = "2026-11-23T10:05:00Z",
    record_count: int = 10,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "type": "data.arrival",
        "v": 1,
        "event_id": event_id,
        "dataset": dataset,
        "source": source,
        "event_time": event_time,
        "uri": f"s3://lake/{dataset}/{event_id}",
        "record_count": record_count,
        "checksum": f"sha256:{event_id}",
        **extra,
    }


def watermark(
    event_id: str = "w1",
    dataset: str = "clicks",
    source: str = "eu",
    watermark: str = "2026-11-23T11:00:00Z",
) -> dict[str, Any]:
    return {
        "type": "data.watermark",
        "v": 1,
        "event_id": event_id,
        "dataset": dataset,
        "source": source,
        "watermark": watermark,
    }


def model_update(event_id: str = "m1", model: str = "churn", version: str = "v1") -> dict[str, Any]:
    return {
        "type": "model.update",
        "v": 1,
        "event_id": event_id,
        "model": model,
        "version": version,
        "artifact_uri": f"s3://models/{model}/{version}",
        "artifact_digest": "sha256:abc",
        "metrics": {"auc": 0.8, "logloss": 0.4},
        "trained_on": ["clicks/2026-11-23T10:00:00Z/PT1H"],
    }


def rollback(event_id: str = "c1", model: str = "churn") -> dict[str, Any]:
    return {
        "type": "command.rollback",
        "v": 1,
        "event_id": event_id,
        "model": model,
        "actor": "alice",
        "reason": "bad release",
        "issued_at": "2026-11-23T12:00:00Z",
        "nonce": "0123456789abcdef",
        "signature": "00",
    }


def override(event_id: str = "c2", subject: str = "churn:v1") -> dict[str, Any]:
    return {
        "type": "command.override",
        "v": 1,
        "event_id": event_id,
        "subject": subject,
        "outcome": "promote",
        "actor": "alice",
        "reason": "checked by hand",
        "issued_at": "2026-11-23T12:00:00Z",
        "nonce": "fedcba9876543210",
        "signature": "00",
    }


def performance(event_id: str = "p1", model: str = "churn", version: str = "v1") -> dict[str, Any]:
    return {
        "type": "model.performance",
        "v": 1,
        "event_id": event_id,
        "model": model,
        "version": version,
        "interval_start": "2026-11-23T12:00:00Z",
        "interval_end": "2026-11-23T13:00:00Z",
        "metrics": {"auc": 0.79},
        "sample_count": 5000,
    }


ALL = [arrival, watermark, model_update, rollback, override, performance]
