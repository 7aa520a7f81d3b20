"""The shipped Grafana dashboards and Prometheus rules read as data, for the static checks
(tests/unit) and the queries a real Prometheus answers (tests/integration)."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from tests.conftest import ROOT

DASHBOARDS = sorted((ROOT / "deploy/grafana/dashboards").glob("*.json"))
RULES = ROOT / "deploy/prometheus/rules/orchestrator.yml"
#: what a dashboard variable stands for when a query is run outside Grafana ("All")
ALL = {"$dataset": ".*", "$model": ".*"}


def dashboards() -> list[dict[str, Any]]:
    return [json.loads(d.read_text()) for d in DASHBOARDS]


def dashboard_exprs() -> list[str]:
    return [
        t["expr"]
        for d in DASHBOARDS
        for p in json.loads(d.read_text())["panels"]
        for t in p["targets"]
    ]


def rule_exprs() -> list[str]:
    return [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}


def variable_query(var: dict[str, Any]) -> str:
    q = var["query"]
    return str(q["query"] if isinstance(q, dict) else q)


def label_values(query: str) -> tuple[str, str]:
    """(series selector, label) of a Grafana `label_values(selector, label)` variable query."""
    m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query.strip())
    assert m, f"not a label_values query: {query}"
    return m.group(1), m.group(2)


def substitute(expr: str, values: dict[str, str]) -> str:
    """The expression as Grafana sends it with these variable values."""
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace(name, values[name]).replace("${" + name[1:] + "}", values[name])
    return expr
