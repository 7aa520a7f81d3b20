"""A real Prometheus scrapes a real worker during a simulated run (a staged rollout with its live
intervals included): every dashboard and alert query is valid against it, the dashboard queries
return data (for every value of the dashboard variables too), and the numbers agree with the
topics. Lag series follow partition ownership."""

from __future__ import annotations

import asyncio
import json
import platform
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from orchestrator import __version__
from orchestrator.catalog.topics import Catalog
from orchestrator.core.timeutil import format_rfc3339_ms, parse_rfc3339_ms
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.embedded import EmbeddedBroker, free_port
from orchestrator.policies import Policies
from orchestrator.produce import send_raw
from orchestrator.simulate import EXAMPLE_KEYS, Phase, generate, to_lines
from orchestrator.testing import Worker, wait_for
from tests import factories
from tests.conftest import ROOT, make_catalog, run_cli
from tests.integration.support import EXAMPLE_KEY_ENV, http, make_worker, read
from tests.monitoring import (
    ALL,
    dashboard_exprs,
    dashboards,
    label_values,
    rule_exprs,
    substitute,
    variable_query,
    variables,
)


class Prometheus:
    def __init__(self, tmp: Path, target: str) -> None:
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ROOT / "deploy/prometheus/rules/orchestrator.yml")],
            "scrape_configs": [
                {"job_name": "orchestrator", "static_configs": [{"targets": [target]}]}
            ],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        binary = shutil.which("prometheus")
        assert binary, "prometheus must be installed (Debian package; scripts/install-system.sh)"
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=open(tmp / "prometheus.log", "wb"),  # noqa: SIM115 - lives as long as the process
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: http(f"{self.url}/-/ready")[0] == 200, timeout=60, every=0.5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def query(self, expr: str) -> dict[str, Any]:
        status, body = http(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert status in (200, 400, 422), (status, body[:300])
        return json.loads(body)

    def value(self, expr: str) -> float:
        result = self.query(expr)["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def variable_values(prom: Prometheus) -> dict[str, list[str]]:
    """Each query variable's choices, asked of Prometheus as Grafana asks (series API)."""
    out: dict[str, list[str]] = {}
    for d in dashboards():
        for name, var in variables(d).items():
            if var["type"] != "query":
                continue
            selector, label = label_values(variable_query(var))
            status, body = http(
                f"{prom.url}/api/v1/series?" + urllib.parse.urlencode({"match[]": selector})
            )
            assert status == 200, body[:300]
            out[name] = sorted({s[label] for s in json.loads(body)["data"] if label in s})
    return out


@pytest.fixture
def observed_run(
    kafka_bootstrap: str, tmp_path: Path
) -> Iterator[tuple[Prometheus, Worker, Catalog, str]]:
    prefix = f"o{uuid.uuid4().hex[:8]}"
    topics = make_catalog(tmp_path / "topics", prefix, partitions=3)
    assert (
        run_cli("topics", "apply", "--broker", kafka_bootstrap, "--topics", str(topics)).returncode
        == 0
    )
    worker = make_worker(
        kafka_bootstrap, topics, prefix, tmp_path / "worker.log", env=EXAMPLE_KEY_ENV
    )
    worker.start()
    prom = Prometheus(tmp_path, f"127.0.0.1:{worker.port}")
    try:
        yield prom, worker, Catalog.load(topics), kafka_bootstrap
    finally:
        prom.stop()
        worker.stop()


def test_prometheus_scrapes_a_real_worker(
    observed_run: tuple[Prometheus, Worker, Catalog, str], tmp_path: Path
) -> None:
    """Queries are valid, dashboards have data, and metric values equal what the topics hold,
    the staged rollout's (live figures, degradation rollback, challenger rejections) too."""
    prom, worker, catalog, bs = observed_run
    base = f"http://127.0.0.1:{worker.port}"
    wait_for(lambda: http(f"{base}/healthz")[0] == 200, timeout=60)
    audit_topic = catalog.name("audit")
    last: list[int] = []

    def settled() -> bool:
        last.append(len(read(bs, audit_topic)))
        return len(last) >= 4 and last[-1] == last[-4] and last[-1] > 0

    # the simulation phase by phase, each once the worker has decided the one before (as the
    # demo sends it), so that fraud's staged rollout plays out: live intervals crown
    # challengers, a champion degrades live and is rolled back, a challenger is rejected
    topics_dir = str(catalog.files["arrivals"].parent)
    phases = generate(Policies.load(ROOT / "gates"), EXAMPLE_KEYS, seed=3)
    assert "live" in [p.name for p in phases]
    for phase in phases:
        path = tmp_path / f"{phase.name}.jsonl"
        path.write_bytes(to_lines([Phase(phase.name, phase.events)]))
        out = run_cli("produce", str(path), "--broker", bs, "--topics", topics_dir, timeout=120)
        assert out.returncode == 0, out.stderr
        if phase.malformed:
            asyncio.run(send_raw(Connection(bs), catalog.name("arrivals"), phase.malformed))
        last.clear()
        wait_for(settled, timeout=120, every=1.5)
    # one more live interval of fraud's champion: its figures are what Prometheus shows
    champion = [r for r in read(bs, catalog.name("champions")) if r["model"] == "fraud"][-1]
    # after every simulated interval (an earlier or overlapping one would not count)
    start_ms = max(
        parse_rfc3339_ms(e["interval_end"])
        for p in phases
        for e in p.events
        if e["type"] == "model.performance" and e["model"] == "fraud"
    )
    start, end = format_rfc3339_ms(start_ms), format_rfc3339_ms(start_ms + 3_600_000)
    interval = {
        **factories.performance("obs-live", model="fraud", version=champion["version"]),
        "interval_start": start,
        "interval_end": end,
        "metrics": {"recall": 0.879, "false_positive_rate": 0.021},
        "sample_count": 4321,
    }
    path = tmp_path / "interval.jsonl"
    path.write_bytes(orjson.dumps(interval) + b"\n")
    out = run_cli("produce", str(path), "--broker", bs, "--topics", topics_dir)
    assert out.returncode == 0, out.stderr
    live = 'orchestrator_live_metric{model="fraud", role="champion", metric="recall"}'
    wait_for(lambda: prom.value(live) == 0.879, timeout=30)
    status, body = http(f"{base}/readyz")
    assert status == 200 and json.loads(body)["ready"] is True, body
    wait_for(lambda: prom.value("sum(orchestrator_decisions_total)") == last[-1], timeout=30)

    for expr in dashboard_exprs() + rule_exprs():
        answer = prom.query(substitute(expr, ALL))
        assert answer["status"] == "success", (expr, answer)
    for raw in dashboard_exprs():
        expr = substitute(raw, ALL)
        wait_for(lambda expr=expr: bool(prom.query(expr)["data"]["result"]), timeout=30)

    # the variables list what the policies declare, and each value filters the panels to it
    choices = {f"${name}": values for name, values in variable_values(prom).items()}
    assert choices["$dataset"] == sorted(Policies.load(ROOT / "gates").dataset_specs())
    assert choices["$model"] and set(choices["$model"]) <= set(Policies.load(ROOT / "gates").models)
    for var, values in choices.items():
        for value in values:
            for expr in dashboard_exprs():
                if var not in expr:
                    continue
                answer = prom.query(substitute(expr, {**ALL, var: value}))
                assert answer["status"] == "success", (expr, answer)
                for series in answer["data"]["result"]:
                    shown = {series["metric"].get(k) for k in ("dataset", "model", "subject")}
                    assert value in shown or shown == {None}, (var, value, expr, series)

    decisions = {d["decision_id"] for d in read(bs, audit_topic)}
    dlq = read(bs, catalog.name("dlq"))
    late = read(bs, catalog.name("late"))
    assert prom.value("sum(orchestrator_decisions_total)") == len(decisions)
    assert prom.value("sum(orchestrator_dlq_total)") == len(dlq) == 3 + 2  # malformed + conflicts
    assert prom.value('sum(orchestrator_dlq_total{code="E_DUPLICATE_CONFLICT"})') == 2
    assert prom.value("sum(orchestrator_late_total)") == len(late) == 2
    champions: dict[str, str] = {}
    for rec in read(bs, catalog.name("champions")):
        champions[rec["model"]] = rec["version"]
    series = prom.query("orchestrator_champion_info == 1")["data"]["result"]
    assert {s["metric"]["model"]: s["metric"]["version"] for s in series} == champions
    assert prom.value("up") == 1 and prom.value("orchestrator_ready") == 1
    assert prom.value("sum(orchestrator_decision_latency_seconds_count)") == len(decisions)
    # decisions by subject: the dataset of a window, the model of a version or command
    by_subject: Counter[tuple[str, str]] = Counter()
    for d in {d["decision_id"]: d for d in read(bs, audit_topic)}.values():
        kind = d["subject"]["kind"]
        subject = d["subject"]["id"].split("/")[0] if kind == "data_window" else d["model"]
        by_subject[(kind, subject)] += 1
    series = prom.query("sum by (subject_kind, subject) (orchestrator_decisions_total)")
    assert {
        (s["metric"]["subject_kind"], s["metric"]["subject"]): int(float(s["value"][1]))
        for s in series["data"]["result"]
    } == dict(by_subject)
    assert prom.value("sum(orchestrator_arrivals_total)") == prom.value(
        'sum(orchestrator_events_total{type="data.arrival", result!="dlq"})'
    )
    [build] = prom.query("orchestrator_build_info")["data"]["result"]
    assert build["metric"]["version"] == __version__ and build["value"][1] == "1"
    assert build["metric"]["python"] == platform.python_version()
    assert prom.value('process_resident_memory_bytes{job="orchestrator"}') > 0
    assert prom.value('python_info{job="orchestrator"}') == 1
    text = http(f"{base}/metrics")[1].decode()
    assert "event_id" not in text and "s3://" not in text  # no unbounded labels
    assert "obs-live" not in text and 'version="v5"' not in text

    # the staged rollout, as the topics hold it and Prometheus shows it
    for family in (
        "orchestrator_challenger",
        "orchestrator_live_metric",
        "orchestrator_live_samples",
        "orchestrator_live_intervals_total",
        "orchestrator_challenger_rejections_total",
    ):
        assert f"\n{family}{{" in text, family  # a series of each new family
    audited = list({d["decision_id"]: d for d in read(bs, audit_topic)}.values())

    def failed(d: dict[str, Any]) -> set[str]:
        return {c["code"] for c in d["checks"] if not c["passed"]}

    degraded = [d for d in audited if "E_LIVE_DEGRADED" in failed(d)]
    assert sorted((d["subject"]["id"], d["outcome"]) for d in degraded) == [
        ("fraud:v5", "rollback"),
        ("fraud:v6", "reject"),
    ]
    assert prom.value('sum(orchestrator_champion_rollbacks_total{cause="live_degraded"})') == 1
    rejections = prom.query("sum by (model, cause) (orchestrator_challenger_rejections_total)")
    # every model's causes exist from the start at 0 (so that alerts see the first increase)
    assert {
        (s["metric"]["model"], s["metric"]["cause"]): float(s["value"][1])
        for s in rejections["data"]["result"]
        if float(s["value"][1])
    } == {("fraud", "live_degraded"): 1.0, ("fraud", "lineage"): 1.0}
    assert len(rejections["data"]["result"]) == 5 * len(Policies.load(ROOT / "gates").models)
    assert prom.value('orchestrator_live_samples{model="fraud", role="champion"}') == 4321
    assert prom.value('orchestrator_challenger{model="fraud"}') == (
        1 if champion.get("challenger") else 0
    )
    # every simulated interval was of the champion or the challenger then, with enough samples
    sent = sum(e["type"] == "model.performance" for p in phases for e in p.events) + 1
    assert prom.value('sum(orchestrator_live_intervals_total{counted="true"})') == sent
    assert prom.value('sum(orchestrator_live_intervals_total{counted="false"})') == 0

    # the same simulated run replays to an exact match
    topics = str(catalog.files["arrivals"].parent)
    replayed = run_cli(
        "replay", "--broker", bs, "--topics", topics, env=EXAMPLE_KEY_ENV, timeout=240
    )
    assert replayed.returncode == 0, replayed.stdout[-3000:] + replayed.stderr[-2000:]
    assert "replay verdict: MATCH" in replayed.stdout


def lag_partitions(worker: Worker) -> set[tuple[str, str]]:
    """(topic, partition) of every lag series the worker exports now."""
    status, body = http(f"http://127.0.0.1:{worker.port}/metrics")
    if status != 200:
        return set()
    return {
        (s.labels["topic"], s.labels["partition"])
        for family in text_string_to_metric_families(body.decode())
        if family.name == "orchestrator_consumer_lag"
        for s in family.samples
    }


def test_lag_series_follow_partition_ownership(kafka_bootstrap: str, tmp_path: Path) -> None:
    """When a second worker joins, the first stops exporting lag for the partitions it gave up:
    no partition is exported by both, and together they export every partition."""
    prefix = f"l{uuid.uuid4().hex[:8]}"
    topics = make_catalog(tmp_path / "topics", prefix, partitions=3)
    assert (
        run_cli("topics", "apply", "--broker", kafka_bootstrap, "--topics", str(topics)).returncode
        == 0
    )
    catalog = Catalog.load(topics)
    inputs = [catalog.name(r) for r in ("arrivals", "model_updates", "commands", "model_log")]
    every = {(t, str(p)) for t in inputs for p in range(3)}
    a = make_worker(kafka_bootstrap, topics, prefix, tmp_path / "a.log", env=EXAMPLE_KEY_ENV)
    b = make_worker(kafka_bootstrap, topics, prefix, tmp_path / "b.log", env=EXAMPLE_KEY_ENV)
    a.start()
    try:
        wait_for(lambda: lag_partitions(a) == every, timeout=90)
        b.start()

        def split() -> bool:
            on_a, on_b = lag_partitions(a), lag_partitions(b)
            return bool(on_a and on_b) and not on_a & on_b and on_a | on_b == every

        wait_for(split, timeout=120)
        assert lag_partitions(a) < every
    finally:
        b.stop()
        a.stop()


def test_readyz_reports_an_unreachable_broker(tmp_path: Path) -> None:
    """Ready on a live broker; not ready (503, broker_reachable false) once the broker is gone."""
    broker = EmbeddedBroker()
    broker.start()
    topics = make_catalog(tmp_path / "topics", "r")
    assert (
        run_cli("topics", "apply", "--broker", broker.bootstrap, "--topics", str(topics)).returncode
        == 0
    )
    worker = make_worker(
        broker.bootstrap, topics, "ready-test", tmp_path / "worker.log", env=EXAMPLE_KEY_ENV
    )
    worker.start()
    base = f"http://127.0.0.1:{worker.port}"
    try:
        run_cli(
            "simulate",
            "--send",
            "--example-keys",
            "--broker",
            broker.bootstrap,
            "--topics",
            str(topics),
        )
        wait_for(lambda: http(f"{base}/readyz")[0] == 200, timeout=90)
        assert http(f"{base}/healthz")[0] == 200
        # only our endpoints: none of Faust's views
        for path in ("/", "/router/", "/table/", "/stats/", "/graph/"):
            assert http(f"{base}{path}")[0] == 404, path
        broker.stop()

        def unreachable() -> bool:
            status, body = http(f"{base}/readyz")
            return status == 503 and json.loads(body)["broker_reachable"] is False

        wait_for(unreachable, timeout=60)
        assert http(f"{base}/healthz")[0] == 200  # alive, just not ready
    finally:
        worker.stop()
        broker.stop()
