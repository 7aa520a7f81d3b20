"""Alerts and dashboards checked without a server: every alert carries summary, description and a
runbook section that exists, and is unit-tested firing and silent; dashboards have their
variables, no literal datasource uid, a unit and a description per panel, and queries that parse."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tests.monitoring import (
    ALL,
    RULES,
    dashboards,
    label_values,
    substitute,
    variable_query,
    variables,
)

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


# -- dashboards ------------------------------------------------------------------------------

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def panels() -> list[dict[str, Any]]:
    return [p for d in dashboards() for p in d["panels"]]


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict inside a JSON document."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def metric_labels() -> dict[str, set[str]]:
    """Label names of every orchestrator_* metric, under each name it is exported as."""
    from prometheus_client.metrics import MetricWrapperBase

    from orchestrator.worker.metrics import Metrics

    out: dict[str, set[str]] = {}
    metrics = Metrics()
    for m in [*vars(metrics).values(), *vars(metrics.retraining).values()]:
        if isinstance(m, MetricWrapperBase):
            for suffix in ("", "_total", "_bucket", "_count", "_sum"):
                out[m._name + suffix] = set(m._labelnames)
    return out


def test_dashboards_have_datasource_dataset_and_model_variables() -> None:
    """$datasource picks a Prometheus data source; $dataset and $model list label values of
    exported metrics through that data source, with All and multi-select."""
    labels = metric_labels()
    for d in dashboards():
        v = variables(d)
        assert {"datasource", "dataset", "model"} <= set(v), d["title"]
        assert v["datasource"]["type"] == "datasource" and v["datasource"]["query"] == "prometheus"
        for name in ("dataset", "model"):
            var = v[name]
            assert var["type"] == "query" and var["datasource"] == DATASOURCE
            assert var["includeAll"] and var["multi"] and var["allValue"] == ".*"
            selector, label = label_values(variable_query(var))
            metric = re.match(r"orchestrator_\w+", selector)
            assert metric and label in labels[metric.group(0)], selector


def test_no_hard_coded_datasource_uid() -> None:
    """Every datasource reference (dashboard, panel, target, variable) is ${datasource}."""
    for d in dashboards():
        refs = [n["datasource"] for n in walk(d) if "datasource" in n and n is not d]
        assert refs and all(r == DATASOURCE for r in refs), refs
        text = json.dumps(d)
        assert text.count('"uid"') == 1 + text.count('"uid": "${datasource}"')  # + dashboard uid


@pytest.mark.parametrize("panel", panels(), ids=lambda p: p["title"])
def test_panel_has_unit_description_and_filters_by_the_variables(panel: dict[str, Any]) -> None:
    """A unit and a description on every panel; every selector of a metric with a dataset or
    model label is filtered by $dataset / $model (decisions: their subject)."""
    assert panel["fieldConfig"]["defaults"].get("unit"), "no unit"
    assert len(panel.get("description", "")) > 20, "no description"
    assert panel["datasource"] == DATASOURCE
    labels = metric_labels()
    for target in panel["targets"]:
        for metric, matchers in re.findall(r"(orchestrator_\w+)(\{[^}]*\})?", target["expr"]):
            have = labels[metric]
            if "dataset" in have:
                assert 'dataset=~"$dataset"' in matchers, (metric, target["expr"])
            if "model" in have:
                assert 'model=~"$model"' in matchers, (metric, target["expr"])
            if "subject" in have:
                assert re.search(r'subject=~"\$(dataset|model)"', matchers), target["expr"]


def test_every_dashboard_and_variable_query_parses(tmp_path: Path) -> None:
    """promtool parses every panel expression (variables substituted) and every variable's
    series selector, as recording rules."""
    exprs = [substitute(t["expr"], ALL) for p in panels() for t in p["targets"]]
    for d in dashboards():
        for var in variables(d).values():
            if var["type"] == "query":
                exprs.append(label_values(variable_query(var))[0])
    assert not [e for e in exprs if "$" in e], "a variable was left unsubstituted"
    rules = {
        "groups": [
            {
                "name": "dashboards",
                "rules": [
                    {"record": f"dashboard:expr_{i}", "expr": e} for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    promtool = shutil.which("promtool")
    assert promtool, "promtool must be installed (Debian package prometheus)"
    out = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text(
        yaml.safe_dump(
            {"groups": [{"name": "x", "rules": [{"record": "a:b", "expr": "sum by (("}]}]}
        )
    )
    assert subprocess.run([promtool, "check", "rules", str(bad)], capture_output=True).returncode
