"""`contracts.trusted.made` is `model_construct` (the same instance), only cheaper."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from orchestrator.contracts.records import (
    AuditDecision,
    Check,
    GateRef,
    Inputs,
    SourceOffset,
    Subject,
)
from orchestrator.contracts.trusted import made

OFFSET = {"topic": "t", "partition": 1, "offset": 2}
CASES: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (SourceOffset, OFFSET),
    (GateRef, {"name": "g", "version": 3, "digest": "sha256:00"}),
    (Subject, {"kind": "data_window", "id": "w"}),
    (
        Check,
        {
            "name": "c",
            "passed": False,
            "severity": "warn",
            "observed": {"a": 1},
            "expected": None,
            "code": "E",
        },
    ),
    (Inputs, {"event_ids": ["a"], "digest": "d", "offsets": [SourceOffset(**OFFSET)]}),
    (
        AuditDecision,
        {
            "type": "audit.decision",
            "v": 1,
            "decision_id": "sha256:01",
            "subject": Subject(kind="data_window", id="w"),
            "revision": 1,
            "outcome": "promote",
            "gate": GateRef(name="g", version=1, digest="d"),
            "checks": [],
            "inputs": Inputs(event_ids=[], digest="d", offsets=[]),
            "watermark": None,
            "supersedes": None,
            "champion_before": None,
            "champion_after": None,
            "decided_at": datetime(2026, 12, 8, tzinfo=UTC),
            "orchestrator_version": "0.1.0",
            "trigger": None,
            "model": None,
        },
    ),
]


@pytest.mark.parametrize(("cls", "values"), CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_made_is_model_construct(cls: type[BaseModel], values: dict[str, Any]) -> None:
    # the keyword order of a call does not matter: the model's field order does
    shuffled = dict(reversed(list(values.items())))
    got, want = made(cls, **shuffled), cls.model_construct(**values)
    assert type(got) is cls
    assert got == want
    assert list(got.__dict__) == list(want.__dict__) == list(cls.model_fields)
    assert got.__pydantic_fields_set__ == want.__pydantic_fields_set__
    assert got.__pydantic_extra__ is want.__pydantic_extra__
    assert got.__pydantic_private__ is want.__pydantic_private__
    assert got.model_dump_json() == want.model_dump_json()


@pytest.mark.parametrize(("cls", "values"), CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_a_field_left_out_is_an_error_not_a_default(
    cls: type[BaseModel], values: dict[str, Any]
) -> None:
    for name in values:
        with pytest.raises(KeyError):
            made(cls, **{k: v for k, v in values.items() if k != name})
