"""`replay` re-derives staged-rollout decisions: `model.performance` events ride
`models.updates` into `models.log`, the gate crowns a challenger (a re-sent interval counting
for nothing), rolls a degraded champion back, keeps a degraded champion with nothing to fall
back to (audited `hold`), and replay matches every decision; a tampered one is a mismatch
(issue #15)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from orchestrator.catalog.topics import Catalog
from orchestrator.contracts import decode
from orchestrator.contracts.modellog import event_record, notice_record
from orchestrator.contracts.records import SourceOffset
from orchestrator.kafka.read import TimedRecord
from orchestrator.pipeline.build import Logics
from orchestrator.pipeline.records import Rec
from orchestrator.policies import Policies
from orchestrator.replay import Report
from tests import factories
from tests.unit.replay_support import APPENDED_MS, replay_of, updates_first

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 11, 24, tzinfo=UTC)
ROLLOUT = """rollout:
  challenger_windows: 2
  min_samples: 100
  guard: {metric: auc, direction: max, tolerance: 0.02}
"""


@pytest.fixture
def gates(tmp_path: Path) -> Path:
    """The shipped gates, churn's policy with a staged rollout."""
    out = tmp_path / "gates"
    shutil.copytree(ROOT / "gates", out)
    churn = out / "models" / "churn.yaml"
    churn.write_text(churn.read_text() + ROLLOUT)
    return out


def perf(eid: str, version: str, auc: float, hour: int = 0) -> dict[str, Any]:
    """An interval of `version`, the `hour`-th hour from 12:00 (each counts once, in order)."""
    return {
        **factories.performance(eid, version=version),
        "metrics": {"auc": auc},
        "interval_start": f"2026-11-23T{12 + hour}:00:00Z",
        "interval_end": f"2026-11-23T{13 + hour}:00:00Z",
    }


def updates_topic() -> list[TimedRecord]:
    """v0, v1, v2 of churn (the first crowned, the last the challenger once W1 is decided),
    then live intervals: v0's figure, two good ones crowning v2 (p1 re-sent between them,
    not counted), one degrading it, then one degrading v0, which has nothing to fall back to."""
    events = [factories.model_update(f"m{i}", version=f"v{i}") for i in range(3)] + [
        perf("p0", "v0", 0.80),
        perf("p1", "v2", 0.79),
        perf("p1-again", "v2", 0.79),
        perf("p2", "v2", 0.80, hour=1),
        perf("p3", "v2", 0.50, hour=2),
        perf("p4", "v0", 0.50, hour=1),
    ]
    return [(i, b"churn", orjson.dumps(e), APPENDED_MS) for i, e in enumerate(events)]


def topics(gates: Path, tamper: Any = None) -> dict[str, dict[int, list[TimedRecord]]]:
    return updates_first(gates, updates_topic(), 3, tamper)


def run(gates: Path, data: dict[str, dict[int, list[TimedRecord]]]) -> Report:
    return replay_of(gates, data)


def churn(decisions: list[dict[str, Any]]) -> list[tuple[str, int, str, list[str]]]:
    return [
        (
            d["subject"]["id"],
            d["revision"],
            d["outcome"],
            [c["code"] for c in d["checks"] if not c["passed"]],
        )
        for d in decisions
        if d["subject"]["id"].startswith("churn:")
    ]


def test_the_rollout_s_decisions_are_what_the_scenario_says(gates: Path) -> None:
    """The premise: v0 crowned, v1 replaced by v2, v2 crowned on p1+p2, rolled back on p3;
    v0, champion again, degrades on p4 and is kept."""
    recorded = [orjson.loads(r[2]) for r in topics(gates)["audit.decisions"][0]]
    assert churn(recorded) == [
        ("churn:v0", 1, "hold", ["E_LINEAGE_PENDING"]),
        ("churn:v1", 1, "hold", ["E_LINEAGE_PENDING"]),
        ("churn:v2", 1, "hold", ["E_LINEAGE_PENDING"]),
        ("churn:v0", 2, "promote", []),
        ("churn:v1", 2, "promote", []),
        ("churn:v1", 3, "reject", ["E_CHALLENGER_REPLACED"]),
        ("churn:v2", 2, "promote", []),
        ("churn:v2", 3, "promote", []),
        ("churn:v2", 4, "rollback", ["E_LIVE_DEGRADED"]),
        ("churn:v0", 3, "hold", ["E_LIVE_DEGRADED", "E_NO_ROLLBACK_TARGET"]),
    ]
    rollback = next(d for d in recorded if d["outcome"] == "rollback")
    assert rollback["champion_after"] == "v0"
    assert rollback["inputs"]["event_ids"][-2:] == ["p3", "p0"]
    crowned = next(d for d in recorded if d["subject"]["id"] == "churn:v2" and d["revision"] == 3)
    assert [f["event_id"] for f in crowned["checks"][0]["observed"]] == ["p1", "p2"]
    kept = recorded[-1]
    assert (kept["champion_before"], kept["champion_after"]) == ("v0", "v0")
    assert kept["inputs"]["event_ids"][-1] == "p4"


def test_replay_matches_every_rollout_decision(gates: Path) -> None:
    with run(gates, topics(gates)) as report:
        assert report.ok, list(report.problems())
        assert report.count("match") == len(report.subjects) > 9
        assert report.log["entries"] == report.log["match"] > 0


@pytest.mark.parametrize(
    ("subject", "revision"), [("churn:v2", 4), ("churn:v0", 3)], ids=["rollback", "kept"]
)
def test_a_tampered_live_degradation_decision_mismatches(
    gates: Path, subject: str, revision: int
) -> None:
    """A rollback, or a kept champion, recorded with another champion_after: a mismatch."""

    def tamper(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for d in decisions:
            if (d["subject"]["id"], d["revision"]) == (subject, revision):
                d["champion_after"] = "v1"
        return decisions

    with run(gates, topics(gates, tamper)) as report:
        assert not report.ok
        (problem,) = list(report.problems())
        assert (problem["subject"], problem["status"]) == (subject, "mismatch")
        assert set(problem["diff"]) == {"champion_after"}


def test_models_champions_carries_the_challenger_and_leaves_it_out_when_none(gates: Path) -> None:
    """The champions record names the challenger beside the champion; without one the field
    is absent, so records read as they always did."""
    policies = Policies.load(gates)
    logic = Logics(policies, Catalog.load(ROOT / "topics"), version="test").models
    engine = logic.new_engine()
    src = SourceOffset(topic="models.updates", partition=0, offset=0)
    w1 = factories.model_update()["trained_on"][0]
    values = [notice_record(w1, "promote", "d1", src)] + [
        event_record(decode(orjson.dumps(factories.model_update(f"m{i}", version=f"v{i}"))), src)  # type: ignore[arg-type]
        for i in range(2)
    ]
    records = []
    for offset, value in enumerate(values):
        applied = logic.apply(engine, Rec("models.log", 0, offset, b"churn", value, None), AT)
        records += [orjson.loads(o.value) for o in applied.outputs if o.role == "champions"]
    assert [(r["version"], r.get("challenger")) for r in records] == [("v0", None), ("v0", "v1")]
    assert "challenger" not in records[0]
