"""The Helm chart, checked the way a cluster would see it, offline: `helm lint`, `helm
template`, and every rendered document strictly decoded into the typed Kubernetes and
Prometheus Operator APIs (deploy/helm/validate); then what the manifests must say: workers as
group members with probes, the PDB and the Service selecting them, the topics-apply hook,
every setting reachable from values, secrets as files of mode 600, the alert rules and the
dashboards as the repository has them. The tools come from scripts/build-k8s-tools.sh (make
test runs it)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.settings import Settings
from tests.conftest import ROOT

CHART = ROOT / "deploy" / "helm" / "ml-orchestrator"
TOOLS = ROOT / ".tools"
ALL_ON = [
    "--set", "monitoring.serviceMonitor.enabled=true",
    "--set", "monitoring.prometheusRule.enabled=true",
    "--set", "monitoring.dashboards.enabled=true",
    "--set", "mlflowBridge.enabled=true",
    "--set", "secrets.files=orch-files",
    "--set", "secrets.env=orch-keys",
]  # fmt: skip


def tool(name: str) -> str:
    path = TOOLS / name
    assert path.is_file(), f"{path}: run scripts/build-k8s-tools.sh (make test does)"
    return str(path)


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("helm"), *args], capture_output=True, text=True, timeout=120, check=False
    )


def render(*args: str) -> list[dict[str, Any]]:
    out = helm("template", "rel", str(CHART), *args)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def validate(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("kube-validate"), "-"], input=text, capture_output=True, text=True, timeout=60
    )


def find(docs: list[dict[str, Any]], kind: str, suffix: str = "") -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(suffix)]
    return doc


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def test_lint_and_every_rendered_document_is_valid_kubernetes() -> None:
    for values in ([], ALL_ON):
        lint = helm("lint", "--strict", str(CHART), *values)
        assert lint.returncode == 0, lint.stdout + lint.stderr
        rendered = helm("template", "rel", str(CHART), *values)
        assert rendered.returncode == 0, rendered.stderr
        checked = validate(rendered.stdout)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        kinds = {line.split()[2] for line in checked.stdout.splitlines()}
        assert {"Deployment", "Service", "PodDisruptionBudget", "Job"} <= kinds
    assert {"ServiceMonitor", "PrometheusRule", "ConfigMap"} <= kinds


def test_the_validator_refuses_what_a_cluster_would() -> None:
    text = helm("template", "rel", str(CHART)).stdout
    unknown = text.replace(
        "terminationGracePeriodSeconds: 60", "terminationGracePeriodSeconds: 60\n      grace: 1"
    )
    out = validate(unknown)
    assert out.returncode == 1 and 'unknown field "spec.template.spec.grace"' in out.stdout
    wrong_type = text.replace("replicas: 2", 'replicas: "two"')
    assert validate(wrong_type).returncode == 1
    assert validate("apiVersion: v1\nkind: Nonsense\nmetadata: {name: x}\n").returncode == 1


def test_workers_are_group_members_with_probes_a_pdb_and_a_service() -> None:
    docs = render(*ALL_ON, "--set", "workers.replicas=4")
    worker = find(docs, "Deployment", "-worker")
    assert worker["spec"]["replicas"] == 4
    pod = worker["spec"]["template"]
    labels = pod["metadata"]["labels"]
    (c,) = pod["spec"]["containers"]
    assert c["args"] == ["worker"]
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["resources"]["limits"] and c["resources"]["requests"]
    env = env_of(c)
    assert env["ORCHESTRATOR_WEB_HOST"] == "0.0.0.0"  # noqa: S104 (the pod's network)
    assert env["ORCHESTRATOR_APP_ID"] == "ml-orchestrator"  # one group for every replica
    assert pod["spec"]["securityContext"]["runAsUser"] == 10001  # the image's user
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    pdb = find(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = find(docs, "Service", "-worker")
    assert service["spec"]["selector"].items() <= labels.items()
    monitor = find(docs, "ServiceMonitor")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]


def test_topics_apply_runs_as_a_hook_with_the_workers_settings() -> None:
    docs = render("--set", "settings.topic_replication=3", "--set", "kafka.bootstrap=k:9093")
    job = find(docs, "Job")
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert hooks == ["pre-install", "pre-upgrade"]
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["args"] == ["topics", "apply"]
    worker = find(docs, "Deployment", "-worker")["spec"]["template"]["spec"]["containers"][0]
    settings = {k: v for k, v in env_of(worker).items() if not k.startswith("ORCHESTRATOR_WEB_")}
    assert env_of(c) == settings  # the Job creates what the workers verify
    assert settings["ORCHESTRATOR_TOPIC_REPLICATION"] == "3"
    assert settings["ORCHESTRATOR_BROKER"] == "k:9093"


def test_every_setting_of_the_configuration_is_reachable_from_values() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    fields = set(Settings.model_fields)
    assert set(values["settings"]) <= fields, set(values["settings"]) - fields  # no typos
    chart_owned = {"broker", "web_host", "web_port"}  # kafka.bootstrap and workers.port
    args = []
    for name in sorted(fields - chart_owned):
        args += ["--set-string", f"settings.{name}=x-{name}"]
    worker = find(render(*args), "Deployment", "-worker")["spec"]["template"]["spec"]
    env = env_of(worker["containers"][0])
    for name in fields - chart_owned:
        assert env[f"ORCHESTRATOR_{name.upper()}"] == f"x-{name}", name
    # listed in values.yaml for the reader, but for a secret, which comes from secrets.env
    secret = {"kafka_sasl_password"}
    assert set(values["settings"]) | chart_owned | secret >= {
        n for n in fields if n.startswith(("kafka_", "topic_", "record_time"))
    }


def test_secret_files_become_the_workers_own_files_of_mode_600() -> None:
    docs = render("--set", "secrets.files=orch-files", "--set", "secrets.env=orch-keys")
    spec = find(docs, "Deployment", "-worker")["spec"]["template"]["spec"]
    (init,) = spec["initContainers"]
    assert "chmod 600 /etc/orchestrator/secrets/*" in init["command"][-1]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["secrets-in"]["secret"]["secretName"] == "orch-files"
    assert volumes["secrets"]["emptyDir"] == {"medium": "Memory"}
    (c,) = spec["containers"]
    assert {"name": "secrets", "mountPath": "/etc/orchestrator/secrets", "readOnly": True} in c[
        "volumeMounts"
    ]
    assert c["envFrom"] == [{"secretRef": {"name": "orch-keys"}}]


def test_policies_given_in_values_are_mounted_in_their_directories(tmp_path: Path) -> None:
    gates = {"access.yaml": "kind: access\n", "datasets/clicks.yaml": "kind: dataset\n"}
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"catalog": {"gates": gates}}))
    docs = render("-f", str(values))
    cm = find(docs, "ConfigMap", "-gates")
    assert cm["data"] == {
        "access.yaml": "kind: access\n",
        "datasets__clicks.yaml": "kind: dataset\n",
    }
    spec = find(docs, "Deployment", "-worker")["spec"]["template"]["spec"]
    (gates_volume,) = [v for v in spec["volumes"] if v["name"] == "gates"]
    assert {(i["key"], i["path"]) for i in gates_volume["configMap"]["items"]} == {
        ("access.yaml", "access.yaml"),
        ("datasets__clicks.yaml", "datasets/clicks.yaml"),
    }
    assert {"name": "gates", "mountPath": "/app/gates", "readOnly": True} in spec["containers"][0][
        "volumeMounts"
    ]


def test_alert_rules_and_dashboards_are_the_repositorys() -> None:
    docs = render(*ALL_ON)
    rule = find(docs, "PrometheusRule")
    rules = yaml.safe_load((ROOT / "deploy/prometheus/rules/orchestrator.yml").read_text())
    assert rule["spec"] == rules
    board = ROOT / "deploy/grafana/dashboards/orchestrator-overview.json"
    cm = find(docs, "ConfigMap", "-orchestrator-overview")
    assert json.loads(cm["data"][board.name]) == json.loads(board.read_text())
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    bridge = find(docs, "Deployment", "-mlflow-bridge")["spec"]["template"]["spec"]["containers"][0]
    assert bridge["args"][:2] == ["mlflow", "sync"]
    assert env_of(bridge)["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


@pytest.mark.parametrize("missing", ["kafka.bootstrap"])
def test_a_required_value_left_out_is_one_clear_error(missing: str) -> None:
    out = helm("template", "rel", str(CHART), "--set", f"{missing}=")
    assert out.returncode != 0 and f"{missing} is required" in out.stderr
