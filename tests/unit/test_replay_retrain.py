"""`replay` re-derives training decisions like any other: requests for every promoted window, a
plateau of the primary metric and a live bound broken by the champion, all matched; a tampered
one (its evidence, or one the worker never made) is a mismatch."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from orchestrator.kafka.read import TimedRecord
from orchestrator.replay import Report
from tests import factories
from tests.unit.replay_support import APPENDED_MS, replay_of, updates_first

ROOT = Path(__file__).resolve().parents[2]
CHURN = """kind: model
name: churn
version: 9
datasets: [clicks]
required_metrics: [auc]
primary_metric: {name: auc, direction: max, tolerance: 0.005}
retrain_on:
  every: 1
  live: {bounds: {calibration_error: {max: 0.05, min_samples: 100}}}
  plateau: {last: 2, min_gain: 0.05}
"""


@pytest.fixture
def gates(tmp_path: Path) -> Path:
    out = tmp_path / "gates"
    shutil.copytree(ROOT / "gates", out)
    (out / "models" / "churn.yaml").write_text(CHURN)
    return out


def updates_topic() -> list[TimedRecord]:
    """v0 and v1 of churn (a gain of 0.01 in auc: a plateau), then a live interval of the
    champion with its calibration error beyond the bound."""
    events: list[dict[str, Any]] = [
        {**factories.model_update("m0", version="v0"), "metrics": {"auc": 0.80}},
        {**factories.model_update("m1", version="v1"), "metrics": {"auc": 0.81}},
        {
            **factories.performance("p0", version="v1"),
            "metrics": {"calibration_error": 0.2},
            "sample_count": 500,
        },
    ]
    return [(i, b"churn", orjson.dumps(e), APPENDED_MS) for i, e in enumerate(events)]


def topics(gates: Path, tamper: Any = None) -> dict[str, dict[int, list[TimedRecord]]]:
    return updates_first(gates, updates_topic(), 2, tamper)


def run(gates: Path, data: dict[str, dict[int, list[TimedRecord]]]) -> Report:
    return replay_of(gates, data)


def requests(decisions: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [
        (d["revision"], d["checks"][0]["name"])
        for d in decisions
        if d["subject"]["kind"] == "training"
    ]


def test_the_requests_are_what_the_scenario_says(gates: Path) -> None:
    recorded = [orjson.loads(r[2]) for r in topics(gates)["audit.decisions"][0]]
    # the first promoted clicks window asks (every 1) and crowns v0 then v1, held on it: a
    # gain of 0.01 over the last 2 champions, a plateau; the next window asks again; the
    # champion's interval breaks its calibration bound
    assert requests(recorded) == [
        (1, "retrain.every"),
        (2, "plateau"),
        (3, "retrain.every"),
        (4, "live.calibration_error"),
    ]


def test_replay_matches_every_training_decision(gates: Path) -> None:
    with run(gates, topics(gates)) as report:
        assert report.ok, list(report.problems())
        assert report.count("match") == len(report.subjects)
        assert report.log["entries"] == report.log["match"] > 0


def test_a_tampered_training_decision_mismatches(gates: Path) -> None:
    def tamper(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for d in decisions:
            if d["subject"]["kind"] == "training" and d["checks"][0]["name"] == "plateau":
                d["checks"][0]["observed"]["gain"] = 0.5
        return decisions

    with run(gates, topics(gates, tamper)) as report:
        assert not report.ok
        (problem,) = list(report.problems())
        assert (problem["subject"], problem["status"]) == ("churn", "mismatch")


def test_a_request_the_worker_never_made_is_extra(gates: Path) -> None:
    def forge(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        last = next(d for d in reversed(decisions) if d["subject"]["kind"] == "training")
        forged = {**last, "revision": last["revision"] + 1, "decision_id": "sha256:forged"}
        return [*decisions, forged]

    with run(gates, topics(gates, forge)) as report:
        assert not report.ok
        statuses = {p["status"] for p in report.problems()}
        assert statuses & {"extra", "mismatch"}
