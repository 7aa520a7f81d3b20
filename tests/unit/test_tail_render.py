"""`tail`'s pure part: which record is about which dataset, model and code, and its one line."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import orjson
import pytest

from orchestrator.catalog.topics import Catalog
from orchestrator.tail import (
    Filters,
    Seen,
    UnknownRole,
    as_json,
    codes_of,
    dataset_of,
    matches,
    model_of,
    render,
    role_of,
)
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = sorted((ROOT / "tests" / "golden").glob("*-decision-*.json"))


def seen(value: object, key: bytes | None = b"k") -> Seen:
    raw = value if isinstance(value, bytes) or value is None else orjson.dumps(value)
    return Seen("t", 2, 7, 1_796_000_000_000, key, raw)


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_every_decision_renders_with_its_outcome_and_subject(path: Path) -> None:
    d = json.loads(path.read_text())
    line = render(seen(d))
    assert line.startswith("2026-") and "t[2]@7" in line
    assert d["outcome"] in line and d["subject"]["id"] in line
    failed = {c["code"] for c in d["checks"] if not c["passed"]}
    assert codes_of(d) == failed
    assert model_of(d) == d.get("model")
    kind = d["subject"]["kind"]
    assert dataset_of(d) == (d["subject"]["id"].split("/")[0] if kind == "data_window" else None)


def test_dlq_records_are_about_their_originals() -> None:
    original = factories.arrival("a1", dataset="clicks")
    envelope = {
        "type": "dlq.record",
        "code": "E_SCHEMA",
        "message": "m",
        "original": base64.b64encode(orjson.dumps(original)).decode(),
        "topic": "data.arrivals",
        "partition": 1,
        "offset": 5,
    }
    assert dataset_of(envelope) == "clicks" and codes_of(envelope) == {"E_SCHEMA"}
    assert "E_SCHEMA data.arrivals[1]@5 m" in render(seen(envelope))
    truncated = {**envelope, "original_truncated": True}
    assert dataset_of(truncated) is None  # a head of bytes is not read as JSON
    garbage = {**envelope, "original": "***"}
    assert dataset_of(garbage) is None
    rollback = {
        **envelope,
        "original": base64.b64encode(orjson.dumps(factories.rollback())).decode(),
    }
    assert model_of(rollback) == "churn"


def test_filters_all_apply() -> None:
    d = json.loads(GOLDEN[0].read_text())
    record = seen(d)
    assert matches(record, Filters())
    assert matches(record, Filters(outcome=d["outcome"], model=d.get("model")))
    assert not matches(record, Filters(outcome="nope"))
    assert not matches(record, Filters(code="E_NONE"))
    assert not matches(seen(b"\xff"), Filters(dataset="clicks"))


def test_records_that_are_not_json_or_are_tombstones_are_shown() -> None:
    assert "(tombstone) key k" in render(seen(None))
    line = orjson.loads(as_json(seen(b"\xff\x00")))
    assert line["value"].startswith("base64:") and line["partition"] == 2
    assert orjson.loads(as_json(seen(b"plain")))["value"] == "plain"
    assert render(seen({"type": "data.window", "window_id": "w", "revision": 2})).endswith(
        "window w rev 2 records None arrivals 0 sources "
    )


def test_roles_and_topic_names() -> None:
    catalog = Catalog.load(ROOT / "topics")
    assert role_of("windows", catalog) == "windows"
    assert role_of("decisions", catalog) == "audit"
    assert role_of(catalog.name("late"), catalog) == "late"
    with pytest.raises(UnknownRole, match="'nope'"):
        role_of("nope", catalog)
