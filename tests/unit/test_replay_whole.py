"""`replay` end to end over topics in memory: the derivation, the `models.log` check and the
comparison all go through its ledger (on disk), and the report read back from there lists
every compared revision, the problems only where there are some, and the same in the JSON file
it streams. The ledger is gone once the report is closed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from orchestrator.catalog.topics import Catalog
from orchestrator.kafka.read import TimedRecord
from orchestrator.policies import Policies
from orchestrator.replay import MemorySource, Range, Report, replay
from tests.unit.replay_support import topics

ROOT = Path(__file__).resolve().parents[2]


def run(data: dict[str, dict[int, list[TimedRecord]]], processes: int = 1) -> Report:
    return replay(
        MemorySource(data, chunk=4),
        Catalog.load(ROOT / "topics"),
        Policies.load(ROOT / "gates"),
        {},
        Range(),
        processes=processes,
    )


@pytest.mark.parametrize("processes", [1, 2])
def test_what_the_worker_wrote_matches_and_the_ledger_is_removed(processes: int) -> None:
    with run(topics(), processes) as report:
        ledger_dir = report.ledger.dir
        assert ledger_dir.is_dir()
        assert report.ok, list(report.problems())
        subjects = report.subjects
        assert subjects and all(s["status"] == "match" for s in subjects)
        assert len({(s["subject"], s["revision"]) for s in subjects}) == len(subjects)
        assert report.count("match") == len(subjects)
        assert report.log["entries"] == report.log["match"] > 0
    assert not ledger_dir.exists()


def test_a_changed_and_a_dropped_decision_are_reported_in_order(tmp_path: Path) -> None:
    changed: dict[str, Any] = {}

    def tamper(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        windows = [d for d in decisions if d["subject"]["kind"] == "data_window"]
        victim, dropped = windows[0], windows[1]
        changed.update(victim)
        victim["outcome"] = "reject" if victim["outcome"] != "reject" else "promote"
        changed["dropped"] = (dropped["subject"]["id"], dropped["revision"])
        return [d for d in decisions if d is not dropped]

    with run(topics(tamper)) as report:
        assert not report.ok
        problems = {(s["subject"], s["revision"]): s for s in report.problems()}
        key = (changed["subject"]["id"], changed["revision"])
        assert problems[key]["status"] == "mismatch"
        assert set(problems[key]["diff"]) == {"outcome"}
        assert problems[changed["dropped"]]["status"] == "missing"
        assert len(problems) == 2
        assert report.count("mismatch") == report.count("missing") == 1
        # every compared revision is listed once, by subject then revision
        compared = [(s["subject"], s["revision"]) for s in report.subjects]
        assert compared == sorted(compared)
        # the streamed JSON file holds what as_json() builds
        out = tmp_path / "report.json"
        report.write_json(out)
        assert orjson.loads(out.read_bytes()) == orjson.loads(orjson.dumps(report.as_json()))


def test_a_recorded_decision_nobody_derived_is_extra_and_a_second_outcome_a_conflict() -> None:
    def tamper(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        forged = {**decisions[0], "revision": 99, "decision_id": "sha256:" + "e" * 64}
        other = {**decisions[1], "decision_id": "sha256:" + "d" * 64, "outcome": "hold"}
        return [*decisions, forged, other]

    with run(topics(tamper)) as report:
        problems = list(report.problems())
        assert [s["status"] for s in problems] == ["mismatch", "extra"]
        assert problems[0]["diff"]["conflict"][1] == "hold"  # listed first: a conflict
        assert problems[1]["revision"] == 99


def test_a_forged_copy_that_reuses_a_genuine_decision_id_is_a_mismatch() -> None:
    """A second record for a recorded (subject, revision) with the same decision id and the
    outcome flipped (replay used to skip a decision id it had seen): a mismatch naming the
    subject and the field; an identical repeat (at-least-once, another decided_at) is not."""
    flipped = {"promote": "reject", "reject": "promote", "hold": "promote"}

    def tamper(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        d = decisions[0]
        forged = {**d, "outcome": flipped.get(d["outcome"], "reject")}
        repeat = {**decisions[1], "decided_at": "2030-01-01T00:00:00Z"}
        return [*decisions, forged, repeat]

    with run(topics(tamper)) as report:
        problems = list(report.problems())
        assert not report.ok and len(problems) == 1
        (p,) = problems
        assert p["status"] == "mismatch" and "outcome" in p["diff"]
        first = orjson.loads(topics()["audit.decisions"][0][0][2])
        assert (p["subject"], p["revision"]) == (first["subject"]["id"], first["revision"])
