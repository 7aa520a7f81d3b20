"""What cannot run here is checked statically: docker-compose, Prometheus config, rules, dashboards."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from orchestrator.errors import ConfigError
from orchestrator.settings import Settings
from orchestrator.worker.host import faust_datadir
from orchestrator.worker.metrics import Metrics
from tests.conftest import ROOT
from tests.monitoring import DASHBOARDS, RULES, dashboard_exprs, rule_exprs

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


class Instruction(NamedTuple):
    op: str
    args: str


def dockerfile() -> list[Instruction]:
    """deploy/Dockerfile as instructions (continuation lines joined, comments dropped)."""
    text = (ROOT / "deploy/Dockerfile").read_text()
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            op, _, args = line.strip().partition(" ")
            out.append(Instruction(op.upper(), " ".join(args.split())))
    return out


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for i in dockerfile():
        if i.op == "ENV":
            env.update(kv.split("=", 1) for kv in shlex.split(i.args))
    return env


def exported_metric_names() -> set[str]:
    names = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        for sample in family.samples:
            names.add(sample.name)
    names |= {f"{n}_total" for n in list(names)} | {"orchestrator_decision_latency_seconds_bucket"}
    return names


def assert_pinned(image: str, where: str) -> None:
    """`image` names an explicit version: a tag with a digit (not latest), or a digest."""
    if "@sha256:" in image:
        assert re.fullmatch(r"[^@]+@sha256:[0-9a-f]{64}", image), f"{where}: bad digest {image}"
        return
    repo, _, tag = image.rpartition(":")
    assert repo and "/" not in tag and tag != "latest" and re.search(r"\d", tag), (
        f"{where}: image {image} is not pinned"
    )


def test_compose_mounts_exist_and_images_are_pinned() -> None:
    """Every bind mount exists, every named volume is declared; every image (and the
    Dockerfile's base) has an explicit version (no latest, no bare name)."""
    declared = set(COMPOSE.get("volumes") or {})
    for name, svc in SERVICES.items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
        image = svc.get("image")
        assert image, f"{name} has no image"
        assert_pinned(image, name)
        if "build" in svc:
            assert (ROOT / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file()
    bases = [i.args.split()[0] for i in dockerfile() if i.op == "FROM"]
    assert bases
    for base in bases:
        assert_pinned(base, "deploy/Dockerfile")


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
        assert command[command.index("--web-host") + 1] == "0.0.0.0"  # noqa: S104 (compose net)
    prom = SERVICES["prometheus"]
    mounted = {v.split(":")[1] for v in prom["volumes"]}
    assert "/etc/prometheus/prometheus.yml" in mounted and "/etc/prometheus/rules" in mounted
    assert any(r.startswith("/etc/prometheus/rules/") for r in config["rule_files"])


def test_grafana_datasource_and_dashboards_are_provisioned() -> None:
    """The datasource points at the prometheus service's port; dashboards are mounted where the
    provider looks and pick their data source with the $datasource variable."""
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
    for d in DASHBOARDS:
        dash = json.loads(d.read_text())
        # panels name the $datasource variable, whose choices include the provisioned one
        [var] = [v for v in dash["templating"]["list"] if v["name"] == "datasource"]
        assert var["type"] == "datasource" and var["query"] == ds["type"]
        for p in dash["panels"]:
            assert p["datasource"] == {"type": ds["type"], "uid": "${datasource}"}


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
    # the MLflow bridge's client comes with the image (`orchestrator mlflow sync`)
    assert "'.[mlflow]'" in text


def test_image_user_owns_the_directories_the_worker_writes() -> None:
    """The image runs as uid 10001, not root; the worker's data dir (data_dir) and run dir
    (state_dir) are set by ENV under a directory created and chowned to that uid, not under
    the root-owned /app."""
    instructions = dockerfile()
    users = [i.args for i in instructions if i.op == "USER"]
    assert users and users[-1] in ("10001", "orchestrator"), users
    run = " ".join(i.args for i in instructions if i.op == "RUN")
    assert "useradd" in run and "--uid 10001" in run
    env = dockerfile_env()
    chowned = re.findall(r"chown (?:-R )?10001(?::10001)? ((?:/[^\s&;]+ ?)+)", run)
    owned = [Path(d) for group in chowned for d in group.split()]
    assert owned, "no directory is chowned to uid 10001"
    for setting in ("ORCHESTRATOR_DATA_DIR", "ORCHESTRATOR_STATE_DIR"):
        path = Path(env[setting])
        assert any(path == d or d in path.parents for d in owned), f"{setting}={path}"
        assert Path("/app") not in path.parents and "mkdir -p" in run and str(path) in run


def test_worker_uses_the_data_dir_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ORCHESTRATOR_DATA_DIR (what the image sets) is where the worker makes its data directory."""
    monkeypatch.setenv("ORCHESTRATOR_DATA_DIR", str(tmp_path / "data"))
    settings = Settings(app_id="app")
    assert settings.data_dir == tmp_path / "data"
    made = faust_datadir(settings)
    assert made == tmp_path / "data" / "app-data" and made.is_dir()


def test_an_unwritable_data_dir_is_a_config_error(tmp_path: Path) -> None:
    """A data_dir the worker cannot create names the setting to change, not a traceback."""
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError) as caught:
        faust_datadir(Settings(app_id="app", data_dir=tmp_path / "file"))
    assert caught.value.field == "data_dir"
    assert caught.value.reason.endswith(
        "set data_dir (ORCHESTRATOR_DATA_DIR) to a directory the worker's user can write"
    )


def test_worker_healthchecks_ask_for_readiness() -> None:
    """Compose calls a worker healthy when /readyz answers 200, not merely /healthz."""
    workers = [s for s in SERVICES.values() if s.get("command", [None])[0] == "worker"]
    assert len(workers) >= 2
    for svc in workers:
        test = " ".join(svc["healthcheck"]["test"])
        port = svc["command"][svc["command"].index("--web-port") + 1]
        assert f"http://127.0.0.1:{port}/readyz" in test and "/healthz" not in test


def test_kafka_keeps_its_log_in_a_named_volume() -> None:
    """The Kafka service's log directory is a declared named volume (it survives a restart)."""
    kafka = SERVICES["kafka"]
    log_dir = kafka["environment"]["KAFKA_LOG_DIRS"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in kafka["volumes"]}
    assert mounts[log_dir] in (COMPOSE.get("volumes") or {})
    assert kafka["environment"].get("CLUSTER_ID")


def test_compose_runs_mlflow_with_the_bridge_and_the_trainer() -> None:
    """MLflow in the stack, pinned to the client's version; the bridge and the trainer point
    at it and wait for it; its data survives `down`/`up`."""
    pins = dict(
        line.split("==")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    mlflow = SERVICES["mlflow"]
    assert mlflow["image"].endswith(f":v{pins['mlflow-skinny']}")
    assert "mlflow-data" in COMPOSE["volumes"] and "healthcheck" in mlflow
    command = mlflow["command"]
    port = command[command.index("--port") + 1]
    assert f"127.0.0.1:{port}:{port}" in mlflow["ports"]
    sync = SERVICES["mlflow-sync"]
    assert sync["command"][:2] == ["mlflow", "sync"]
    assert sync["environment"]["MLFLOW_TRACKING_URI"] == f"http://mlflow:{port}"
    trainer = SERVICES["trainer"]
    assert trainer["entrypoint"] == ["python", "-m", "orchestrator.examples.trainer"]
    assert trainer["command"] == ["--mlflow-tracking-uri", f"http://mlflow:{port}"]
    for svc in (sync, trainer):
        assert svc["depends_on"]["mlflow"] == {"condition": "service_healthy"}
    # the image the bridge and the trainer run has the MLflow client
    assert "'.[mlflow]'" in (ROOT / "deploy" / "Dockerfile").read_text()
