"""What cannot run here is checked statically: docker-compose, Prometheus config, rules, dashboards."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from orchestrator.worker.metrics import Metrics
from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
DASHBOARDS = sorted((ROOT / "deploy/grafana/dashboards").glob("*.json"))
RULES = ROOT / "deploy/prometheus/rules/orchestrator.yml"


def exported_metric_names() -> set[str]:
    names = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        for sample in family.samples:
            names.add(sample.name)
    names |= {f"{n}_total" for n in list(names)} | {"orchestrator_decision_latency_seconds_bucket"}
    return names


def dashboard_exprs() -> list[str]:
    return [
        t["expr"]
        for d in DASHBOARDS
        for p in json.loads(d.read_text())["panels"]
        for t in p["targets"]
    ]


def rule_exprs() -> list[str]:
    return [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def test_compose_mounts_exist_and_images_are_pinned() -> None:
    """Every bind mount exists; every image has an explicit version (no latest, no bare name)."""
    for name, svc in SERVICES.items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            assert (ROOT / source).exists(), f"{name}: {source} does not exist"
        image = svc.get("image")
        assert image, f"{name} has no image"
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and re.search(r"\d", tag), (
            f"{name}: image {image} is not pinned"
        )
        if "build" in svc:
            assert (ROOT / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file()


def test_compose_dependencies_and_healthchecks() -> None:
    """depends_on names real services; those waited on as healthy have a healthcheck."""
    for name, svc in SERVICES.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in SERVICES, f"{name} depends on unknown {dep}"
            if cond.get("condition") == "service_healthy":
                assert "healthcheck" in SERVICES[dep], f"{dep} has no healthcheck"


def test_prometheus_targets_match_compose() -> None:
    """Scrape targets are compose services whose worker listens on that port."""
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "orchestrator")
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    assert len(targets) >= 2
    for target in targets:
        host, port = target.split(":")
        command = SERVICES[host]["command"]
        assert command[0] == "worker" and command[command.index("--web-port") + 1] == port
        assert command[command.index("--web-host") + 1] == "0.0.0.0"
    prom = SERVICES["prometheus"]
    mounted = {v.split(":")[1] for v in prom["volumes"]}
    assert "/etc/prometheus/prometheus.yml" in mounted and "/etc/prometheus/rules" in mounted
    assert any(r.startswith("/etc/prometheus/rules/") for r in config["rule_files"])


def test_grafana_datasource_and_dashboards_are_provisioned() -> None:
    """The datasource points at the prometheus service's port; dashboards are mounted where the provider looks."""
    ds = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    listen = next(
        a for a in SERVICES["prometheus"]["command"] if a.startswith("--web.listen-address=")
    )
    assert ds["url"] == f"http://prometheus:{listen.rsplit(':', 1)[1]}"
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/orchestrator.yml").read_text()
    )
    path = provider["providers"][0]["options"]["path"]
    assert any(v.split(":")[1] == path for v in SERVICES["grafana"]["volumes"])
    assert DASHBOARDS
    for panel_ds in (
        p["datasource"]["uid"] for d in DASHBOARDS for p in json.loads(d.read_text())["panels"]
    ):
        assert panel_ds == ds["uid"]


@pytest.mark.parametrize("expr", dashboard_exprs() + rule_exprs())
def test_every_query_names_exported_metrics(expr: str) -> None:
    """Every orchestrator_* metric a dashboard or rule uses is one the worker exports."""
    used = set(re.findall(r"orchestrator_[a-z_]+", expr))
    assert used <= exported_metric_names(), used - exported_metric_names()


def test_promtool_checks_and_rule_unit_tests() -> None:
    """promtool validates the rules and runs the unit tests that fire every alert."""
    promtool = shutil.which("promtool")
    assert promtool, (
        "promtool must be installed (Debian package prometheus; scripts/install-system.sh)"
    )
    subprocess.run([promtool, "check", "rules", str(RULES)], check=True, capture_output=True)
    out = subprocess.run(
        [promtool, "test", "rules", "tests/orchestrator_test.yml"],
        cwd=ROOT / "deploy/prometheus",
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    tested = set(
        re.findall(
            r"alertname: (\w+)",
            (ROOT / "deploy/prometheus/tests/orchestrator_test.yml").read_text(),
        )
    )
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert alerts == tested  # every alert has a unit test


def test_dockerfile_installs_with_the_constraints() -> None:
    """The image installs the same pinned set as CI."""
    text = (ROOT / "deploy/Dockerfile").read_text()
    assert "-c constraints.txt" in text and re.search(r"FROM python:3\.11\.\d+", text)
