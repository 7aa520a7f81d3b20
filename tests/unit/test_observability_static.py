"""Alerts and dashboards checked without a server: every alert carries summary, description and a
runbook section that exists; every alert is unit-tested firing and silent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

RULES = ROOT / "deploy/prometheus/rules/orchestrator.yml"
RULE_TESTS = ROOT / "deploy/prometheus/tests/orchestrator_test.yml"
RUNBOOK = ROOT / "deploy/prometheus/RUNBOOK.md"
RUNBOOK_PATH = "deploy/prometheus/RUNBOOK.md"


def alerts() -> list[dict[str, Any]]:
    return [
        r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r
    ]


def anchor(heading: str) -> str:
    """The anchor GitHub (and most Markdown renderers) give a heading."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def runbook_sections(path: Path = RUNBOOK) -> dict[str, str]:
    """Level-2 sections of the runbook by anchor: their text up to the next one."""
    parts = re.split(r"^## (.+)$", path.read_text(), flags=re.MULTILINE)
    return {anchor(parts[i]): parts[i + 1] for i in range(1, len(parts), 2)}


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_alert_has_summary_description_and_runbook_section(rule: dict[str, Any]) -> None:
    """summary and description are set; runbook_url names this alert's RUNBOOK.md section,
    which says what the alert means, how to check it and what to do."""
    notes = rule.get("annotations", {})
    assert notes.get("summary", "").strip(), "no summary"
    assert notes.get("description", "").strip(), "no description"
    assert len(notes["description"]) > len(notes["summary"]) // 2, "description says nothing"
    path, _, fragment = notes.get("runbook_url", "").partition("#")
    assert path == RUNBOOK_PATH and (ROOT / path).is_file()
    assert fragment == anchor(rule["alert"]), "runbook anchor must be the alert's name"
    section = runbook_sections().get(fragment)
    assert section is not None, f"{RUNBOOK_PATH} has no section '## {rule['alert']}'"
    for part in ("**What it means.**", "**How to check.**", "**What to do.**"):
        assert part in section, f"section {rule['alert']} lacks {part}"


def test_runbook_has_one_section_per_alert_and_no_other() -> None:
    """Every section of the runbook belongs to an alert that exists, once."""
    headings = re.findall(r"^## (.+)$", RUNBOOK.read_text(), flags=re.MULTILINE)
    assert sorted(headings) == sorted(r["alert"] for r in alerts())


def test_runbook_check_fails_on_a_missing_section(tmp_path: Path) -> None:
    """The section lookup finds headings by anchor and nothing else."""
    book = tmp_path / "RUNBOOK.md"
    book.write_text("# t\n\n## OrchestratorA\n\ntext a\n\n## Orchestrator B\n\ntext b\n")
    assert runbook_sections(book) == {
        "orchestratora": "\n\ntext a\n\n",
        "orchestrator-b": "\n\ntext b\n",
    }


def test_reject_spike_names_the_dataset_or_model() -> None:
    """The reject-spike alert keeps the subject label and says it in its summary."""
    [rule] = [r for r in alerts() if r["alert"] == "OrchestratorGateRejectSpike"]
    for by in re.findall(r"by \(([^)]*)\)", rule["expr"]):
        assert {"subject_kind", "subject"} <= {x.strip() for x in by.split(",")}
    assert "$labels.subject }}" in rule["annotations"]["summary"]


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    """Each alert has a promtool case where it fires and one where it stays silent."""
    fires: set[str] = set()
    silent: set[str] = set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for t in case["alert_rule_test"]:
            (fires if t["exp_alerts"] else silent).add(t["alertname"])
    names = {r["alert"] for r in alerts()}
    assert names - fires == set(), "never fires in a test"
    assert names - silent == set(), "never shown silent in a test"
