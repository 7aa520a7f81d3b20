"""The MLflow bridge against a real MLflow tracking server (`mlflow server`, SQLite backend,
proxied artifacts, 127.0.0.1) started once for this module, and real brokers.

- Registered versions become model.update events (fields, digest stated or computed), once;
  a version that cannot is skipped with its reason and published once fixed.
- Aliases follow models.champions: champion, challenger, crowned, rollback, no champion;
  never two versions hold one alias; a second pass changes nothing.
- End to end through a worker: the example trainer registers in MLflow, sync publishes, the
  worker decides, sync moves the aliases; a crash between produce and tagging publishes the
  same event again and the worker decides once; a rollback moves the alias back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.codec import decode, encode
from orchestrator.contracts.events import ModelUpdate
from orchestrator.contracts.records import ChampionRecord, TrainingRequested
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.embedded import free_port
from orchestrator.kafka.read import read_topic
from orchestrator.mlflow_bridge.plan import (
    TAG_DECISION,
    TAG_DIGEST,
    TAG_IGNORE,
    TAG_PUBLISHED,
    TAG_SKIPPED,
    TAG_TRAINED_ON,
)
from orchestrator.mlflow_bridge.register import TAG_REASON, register
from orchestrator.mlflow_bridge.sync import Bridge, download_digest, path_digest
from orchestrator.produce import send_raw
from orchestrator.settings import Settings
from orchestrator.testing import wait_for
from tests import factories
from tests.conftest import ROOT, caught_up, make_catalog, run_cli
from tests.integration.support import make_worker
from tests.mlflow_required import mlflow_tracking

MlflowClient = mlflow_tracking().MlflowClient

C = "clicks/2026-11-23T{}:00:00Z/PT1H"
KEYS = {"ORCHESTRATOR_KEY_ALICE": "example-key-alice-for-mlflow-tests"}


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`mlflow server` on 127.0.0.1 with a SQLite backend and proxied artifacts: its URI, and
    the directory it stores the artifacts in (`mlflow-artifacts:/<path>` is `<dir>/<path>`)."""
    tmp = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = tmp / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                f"sqlite:///{tmp}/mlflow.db",
                "--artifacts-destination",
                str(tmp / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp,
            start_new_session=True,  # its workers stop with it (process group)
        )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not up in 120 s: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield uri, tmp / "artifacts"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def mlflow_uri(mlflow_server: tuple[str, Path]) -> str:
    return mlflow_server[0]


def gates_for(directory: Path, model: str, *, rollout: bool = False) -> Path:
    """A gates directory with the clicks dataset and one model policy named `model`
    (churn's checks), alice allowed to roll it back."""
    (directory / "datasets").mkdir(parents=True)
    (directory / "models").mkdir()
    src = ROOT / "gates" / "datasets" / "clicks.yaml"
    (directory / "datasets" / "clicks.yaml").write_text(src.read_text())
    policy = yaml.safe_load((ROOT / "gates" / "models" / "churn.yaml").read_text())
    policy["name"] = model
    if rollout:
        policy["rollout"] = {
            "challenger_windows": 1,
            "min_samples": 100,
            "guard": {"metric": "auc", "direction": "max", "tolerance": 0.02},
        }
    (directory / "models" / f"{model}.yaml").write_text(yaml.safe_dump(policy))
    access = {
        "kind": "access",
        "version": 1,
        "actors": {
            "alice": {
                "key_env": "ORCHESTRATOR_KEY_ALICE",
                "allow": [{"action": "rollback", "models": [model]}],
            }
        },
    }
    (directory / "access.yaml").write_text(yaml.safe_dump(access))
    return directory


class Setup:
    """One model's bridge: its topics, gates, MLflow and the CLI pointed at them."""

    def __init__(self, bootstrap: str, tmp: Path, uri: str, *, rollout: bool = False) -> None:
        self.bootstrap, self.tmp, self.uri = bootstrap, tmp, uri
        self.prefix = f"ml{uuid.uuid4().hex[:8]}"
        self.model = f"m{uuid.uuid4().hex[:8]}"
        self.topics = make_catalog(tmp / "topics", self.prefix, partitions=2)
        self.gates = gates_for(tmp / "gates", self.model, rollout=rollout)
        self.catalog = Catalog.load(self.topics)
        self.client = MlflowClient(uri)
        out = run_cli("topics", "apply", "--broker", bootstrap, "--topics", str(self.topics))
        assert out.returncode == 0, out.stderr

    def cli(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        more = ("--gates", str(self.gates))
        return run_cli(*args, "--broker", self.bootstrap, "--topics", str(self.topics), *more, **kw)

    def sync(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.cli("mlflow", "sync", "--tracking-uri", self.uri, *args)

    def records(self, role: str) -> list[tuple[bytes | None, bytes | None]]:
        conn = Connection(self.bootstrap)
        return [(k, v) for _, (_, k, v) in asyncio.run(read_topic(conn, self.catalog.name(role)))]

    def updates(self) -> list[ModelUpdate]:
        """models.updates as the worker decodes it (key checked against the model)."""
        out = []
        for key, value in self.records("model_updates"):
            event = decode(value, key, topic_role="model_updates")
            if isinstance(event, ModelUpdate):
                out.append(event)
        return out

    def champion(self, version: str | None, challenger: str | None = None, n: int = 0) -> None:
        """Write a champions record as the worker would."""
        record = ChampionRecord(
            model=self.model,
            version=version,
            decision_id=f"sha256:test-{n}",
            since=datetime(2026, 11, 23, 12, n, tzinfo=UTC),
            challenger=challenger,
        )
        conn = Connection(self.bootstrap)
        asyncio.run(
            send_raw(conn, self.catalog.name("champions"), [(self.model.encode(), encode(record))])
        )

    def aliases(self) -> dict[str, str]:
        """alias -> version, after checking that no alias is on two versions."""
        found = self.client.get_registered_model(self.model).aliases
        per_version = Counter(
            a
            for mv in self.client.search_model_versions(f"name='{self.model}'")
            for a in self.client.get_model_version(self.model, mv.version).aliases
        )
        assert all(n == 1 for n in per_version.values()), per_version
        assert set(per_version) == set(found)
        return {a: str(v) for a, v in found.items()}

    def version_tags(self, version: str) -> dict[str, str]:
        return dict(self.client.get_model_version(self.model, version).tags)


def artifact(directory: Path, content: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "weights.npy").write_bytes(content)
    (directory / "MLmodel").write_text("flavors: {}\n")
    return directory


def register_version(s: Setup, request_id: str, auc: float, windows: list[str]) -> str:
    """As the example trainer does: run, metrics, tags, artifact, version."""
    done = register(
        s.client,
        experiment=f"exp-{s.model}",
        model=s.model,
        request_id=request_id,
        artifact_dir=artifact(s.tmp / request_id, request_id.encode()),
        metrics={"auc": auc, "logloss": 0.3},
        params={"lr": 0.5},
        trained_on=windows,
        code_version="test-1",
    )
    return done.version


def manual_version(s: Setup, tags: dict[str, str], content: bytes) -> tuple[str, str]:
    """A version made with the plain MLflow client: (version, run id)."""
    exp = s.client.get_experiment_by_name(f"exp-{s.model}").experiment_id
    run = s.client.create_run(exp, tags=tags)
    s.client.log_metric(run.info.run_id, "auc", 0.77)
    s.client.log_metric(run.info.run_id, "logloss", 0.41)
    s.client.log_artifacts(
        run.info.run_id, str(artifact(s.tmp / run.info.run_id, content)), "model"
    )
    s.client.set_terminated(run.info.run_id)
    mv = s.client.create_model_version(s.model, f"{run.info.artifact_uri}/model", run.info.run_id)
    return str(mv.version), run.info.run_id


def test_versions_become_model_updates_once_and_aliases_follow_the_champions(
    kafka_bootstrap: str, mlflow_uri: str, tmp_path: Path
) -> None:
    """On Apache Kafka: stated and computed digests, a skipped version published once fixed,
    a second pass publishes nothing; each champions record moves the aliases, idempotently."""
    s = Setup(kafka_bootstrap, tmp_path, mlflow_uri)
    v1 = register_version(s, "req-1", 0.81, [C.format(10)])
    v2, _ = manual_version(s, {TAG_TRAINED_ON: f"{C.format(10)},{C.format(11)}"}, b"w2")
    v3, run3 = manual_version(s, {}, b"w3")
    assert (v1, v2, v3) == ("1", "2", "3")

    out = s.sync()
    assert out.returncode == 1, out.stderr  # a version was skipped
    lines = out.stdout.splitlines()
    assert f"published {s.model} version 1 (event mlflow/{s.model}/1)" in lines
    assert f"published {s.model} version 2 (event mlflow/{s.model}/2)" in lines
    assert (
        f"skipped {s.model} version 3: run {run3} has no tag {TAG_TRAINED_ON} "
        "(the window ids it trained on)"
    ) in lines
    assert lines[-1].startswith("mlflow sync: published 2, already published 0, skipped 1")

    first, second = s.updates()
    mv1 = s.client.get_model_version(s.model, "1")
    run1 = s.client.get_run(mv1.run_id)
    assert first.event_id == f"mlflow/{s.model}/1" and first.version == "1"
    assert first.model == s.model and first.artifact_uri == mv1.source
    assert first.metrics == {"auc": 0.81, "logloss": 0.3}
    assert first.trained_on == [C.format(10)] and first.code_version == "test-1"
    assert first.params == {"lr": "0.5", "mlflow.run_id": mv1.run_id}
    # the digest the trainer states is the digest of what MLflow serves back
    assert first.artifact_digest == run1.data.tags[TAG_DIGEST]
    assert first.artifact_digest == download_digest(mlflow_uri)(mv1.source)
    assert first.artifact_digest == path_digest(s.tmp / "req-1")
    # no stated digest: computed from the downloaded artifact
    run2 = str((second.params or {})["mlflow.run_id"])
    assert TAG_DIGEST not in s.client.get_run(run2).data.tags
    assert second.trained_on == [C.format(10), C.format(11)]
    assert second.artifact_digest == path_digest(s.tmp / run2)
    assert s.version_tags("1")[TAG_PUBLISHED] == first.event_id
    assert s.version_tags("3")[TAG_SKIPPED].startswith(f"run {run3} has no tag")

    again = s.sync()
    assert again.returncode == 1
    assert again.stdout.splitlines()[-1].startswith(
        "mlflow sync: published 0, already published 2, skipped 1"
    )
    assert len(s.updates()) == 2

    # the run gets its tag: the next pass publishes it and clears the skip tag
    s.client.set_tag(run3, TAG_TRAINED_ON, f'["{C.format(12)}"]')
    fixed = s.sync()
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert f"published {s.model} version 3 (event mlflow/{s.model}/3)" in fixed.stdout
    assert [u.version for u in s.updates()] == ["1", "2", "3"]
    assert TAG_SKIPPED not in s.version_tags("3")

    # orchestrator -> MLflow: no champions record yet, no alias
    assert s.sync("--only", "aliases").returncode == 0 and s.aliases() == {}
    steps: list[tuple[str | None, str | None, dict[str, str], list[str]]] = [
        ("2", None, {"champion": "2"}, ["alias {m}@champion: (none) -> 2"]),
        ("2", "3", {"champion": "2", "challenger": "3"}, ["alias {m}@challenger: (none) -> 3"]),
        (
            "3",
            None,
            {"champion": "3"},
            ["alias {m}@champion: 2 -> 3", "alias {m}@challenger: 3 -> (removed)"],
        ),
        ("1", None, {"champion": "1"}, ["alias {m}@champion: 3 -> 1"]),  # a rollback
        (None, None, {}, ["alias {m}@champion: 1 -> (removed)"]),  # no clean champion left
    ]
    for n, (champion, challenger, expected, moves) in enumerate(steps):
        s.champion(champion, challenger, n)
        out = s.sync("--only", "aliases")
        assert out.returncode == 0, out.stderr
        assert [x for x in out.stdout.splitlines() if x.startswith("alias ")] == [
            m.format(m=s.model) for m in moves
        ]
        assert s.aliases() == expected
        tags = s.client.get_registered_model(s.model).tags
        assert tags[TAG_DECISION] == f"sha256:test-{n}"
        idle = s.sync()
        assert idle.returncode == 0 and s.aliases() == expected
        assert idle.stdout.splitlines()[-1].endswith("aliases moved 0")
        assert "published 0, already published 3" in idle.stdout


def test_the_trainer_registers_once_per_request(mlflow_uri: str, tmp_path: Path) -> None:
    """The example trainer's MLflow mode: a run with metrics, params and the tags the bridge
    reads, a new version; the same request again (a retry after a crash) makes nothing new."""
    from orchestrator.examples.trainer import MlflowTarget, register_in_mlflow, train

    model = f"m{uuid.uuid4().hex[:8]}"
    request = TrainingRequested(
        request_id="sha256:feed", model=model, windows=[C.format(10)], policy="p", policy_version=1
    )
    client = MlflowClient(mlflow_uri)
    target = MlflowTarget(client, f"exp-{model}")
    line = register_in_mlflow(target, request)
    assert line.startswith(f"trainer: {model} registered in MLflow as version 1 (run ")
    assert "registered before" in register_in_mlflow(target, request)
    versions = client.search_model_versions(f"name='{model}'")
    assert [v.version for v in versions] == ["1"]
    run = client.get_run(versions[0].run_id)
    update = train(request)
    assert run.data.metrics == update.metrics
    assert run.data.tags[TAG_TRAINED_ON] == f'["{C.format(10)}"]'
    # the request it answers and why it was asked for (the bridge carries them into the
    # model.update's params: `audit history` shows the training decision)
    assert run.data.params == {
        "steps": "300",
        "lr": "0.5",
        "features": "6",
        "training_request": "sha256:feed",
        "retrain_reason": "every",
    }
    assert run.data.tags[TAG_REASON] == "every"
    assert run.data.tags[TAG_DIGEST] == download_digest(mlflow_uri)(versions[0].source)


def test_a_version_logged_inside_its_run_waits_for_the_run_to_end(
    embedded_bootstrap: str,
    mlflow_server: tuple[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """MLflow 3's usual pattern: `log_model(..., registered_model_name=...)` inside an active
    run registers a READY version (source `models:/m-<id>`) before the final metrics are
    logged. A pass then leaves it pending (exit 0, no tag, nothing sent); after the run ends the
    next pass publishes it with the final metrics, the `models:/` source as artifact_uri, and
    the digest of the files the server stores. A version tagged orchestrator.ignore is left
    alone (no skip, exit 0)."""
    import mlflow
    import mlflow.pyfunc

    uri, stored_root = mlflow_server
    s = Setup(embedded_bootstrap, tmp_path, uri)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # the fluent API, in this process only

    def sync() -> subprocess.CompletedProcess[str]:
        """The bridge as an operator runs it: --tracking-uri alone, from another directory."""
        args = ("mlflow", "sync", "--tracking-uri", uri, "--only", "updates")
        return s.cli(*args, env={"MLFLOW_TRACKING_URI": ""}, cwd=tmp_path)

    class Echo(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: Any, model_input: list[str], params: Any = None) -> list[str]:
            return model_input

    experiment = s.client.create_experiment(f"exp-{s.model}")
    with mlflow.start_run(experiment_id=experiment, tags={TAG_TRAINED_ON: C.format(10)}) as run:
        run_id = run.info.run_id
        mlflow.log_metric("auc", 0.5, step=0)
        info = mlflow.pyfunc.log_model(
            name="model", python_model=Echo(), registered_model_name=s.model, pip_requirements=[]
        )
        mv = s.client.get_model_version(s.model, "1")
        assert mv.status == "READY" and mv.source == info.model_uri
        assert mv.source.startswith("models:/m-")
        early = sync()
        assert early.returncode == 0, early.stdout + early.stderr
        assert (
            f"pending {s.model} version 1: run {run_id} is RUNNING: published once it ends"
            in early.stdout.splitlines()
        )
        assert s.updates() == []
        assert not {TAG_PUBLISHED, TAG_SKIPPED} & set(s.version_tags("1"))
        mlflow.log_metric("auc", 0.83, step=1)  # the final figures
        mlflow.log_metric("logloss", 0.31)
    assert s.client.get_run(run_id).info.status == "FINISHED"

    out = sync()
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"published {s.model} version 1 (event mlflow/{s.model}/1)" in out.stdout
    [update] = s.updates()
    assert update.metrics == {"auc": 0.83, "logloss": 0.31}
    assert update.artifact_uri == mv.source
    location = s.client.get_logged_model(info.model_id).artifact_location
    stored = stored_root / location.removeprefix("mlflow-artifacts:/")
    assert (stored / "MLmodel").is_file()
    assert update.artifact_digest == path_digest(stored)
    assert s.version_tags("1")[TAG_PUBLISHED] == update.event_id

    # an old version without orchestrator.trained_on: skipped on every pass until opted out
    old, _ = manual_version(s, {}, b"old")
    assert sync().returncode == 1
    s.client.set_model_version_tag(s.model, old, TAG_IGNORE, "before the orchestrator")
    quiet = sync()
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert quiet.stdout.splitlines()[-1] == (
        "mlflow sync: published 0, already published 1, skipped 0, pending 0, ignored 1; "
        "aliases moved 0"
    )
    assert len(s.updates()) == 1


class FailingTags:
    """The MLflow client of a bridge that dies after the broker acknowledged its updates and
    before it tagged the versions."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def set_model_version_tag(self, model: str, version: str, key: str, value: str) -> None:
        if key == TAG_PUBLISHED:
            raise RuntimeError("crash between produce and tag")
        self.client.set_model_version_tag(model, version, key, value)


def click(eid: str, src: str, t: str) -> dict[str, Any]:
    return factories.arrival(
        eid, dataset="clicks", source=src, event_time=f"2026-11-23T{t}Z", record_count=100
    )


def test_trainer_to_alias_through_a_worker(
    embedded_bootstrap: str, mlflow_uri: str, tmp_path: Path
) -> None:
    """Windows promote, the worker asks for training, the example trainer registers in MLflow,
    sync publishes, the worker crowns it, sync sets the champion alias; a second version after
    a crashed sync is decided once and becomes challenger, is crowned on live metrics, and a
    signed rollback moves the champion alias back."""
    s = Setup(embedded_bootstrap, tmp_path, mlflow_uri, rollout=True)
    bs = s.bootstrap
    app = s.prefix
    worker = make_worker(bs, s.topics, app, tmp_path / "worker.log", gates=s.gates, env=KEYS)
    trainer_log = open(tmp_path / "trainer.log", "wb")  # noqa: SIM115
    trainer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestrator.examples.trainer",
            "--broker",
            bs,
            "--topics",
            str(s.topics),
            "--group",
            f"{app}-trainer",
            "--mlflow-tracking-uri",
            mlflow_uri,
            "--mlflow-experiment",
            f"exp-{s.model}",
        ],
        stdout=trainer_log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )

    def subject_outcomes(version: str) -> list[str]:
        out = []
        for _, value in s.records("audit"):
            d = orjson.loads(value or b"{}")
            if d.get("subject", {}).get("id") == f"{s.model}:{version}":
                out.append((d["revision"], d["outcome"]))
        return [o for _, o in sorted(out)]

    def champions() -> ChampionRecord | None:
        from orchestrator.mlflow_bridge.plan import latest_champions

        return latest_champions(s.records("champions")).get(s.model)

    def produce(*objs: dict[str, Any]) -> None:
        path = tmp_path / f"{uuid.uuid4().hex}.jsonl"
        path.write_bytes(b"\n".join(orjson.dumps(o) for o in objs))
        out = s.cli("produce", str(path))
        assert out.returncode == 0, out.stderr

    def settled() -> bool:
        return caught_up(bs, f"{app}-router", [s.catalog.name("model_updates")]) and caught_up(
            bs, f"{app}-models", [s.catalog.name("model_log")]
        )

    worker.start()
    try:
        # three promoted clicks windows: the policy (retrain_every: 3) asks for training
        produce(
            *[
                click(f"c{h}{src}", src, f"{h}:{m}:00")
                for h in (10, 11, 12)
                for src, m in (("eu", 10), ("us", 20))
            ],
            click("c13eu", "eu", "13:06:00"),
            click("c13us", "us", "13:06:00"),
        )
        wait_for(lambda: bool(s.client.search_model_versions(f"name='{s.model}'")), timeout=120)
        mv1 = s.client.get_model_version(s.model, "1")
        windows = orjson.loads(s.client.get_run(mv1.run_id).data.tags[TAG_TRAINED_ON])
        assert windows == [C.format(h) for h in (10, 11, 12)]

        # publishing only: the worker may decide before a pass would read models.champions
        out = s.sync("--only", "updates")
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"published {s.model} version 1 (event mlflow/{s.model}/1)" in out.stdout
        wait_for(lambda: subject_outcomes("1") == ["promote"])
        wait_for(lambda: (c := champions()) is not None and c.version == "1")
        out = s.sync()
        assert f"alias {s.model}@champion: (none) -> 1" in out.stdout
        assert s.aliases() == {"champion": "1"}

        # version 2, better; the first sync dies after the produce, before the tag
        auc1 = s.client.get_run(mv1.run_id).data.metrics["auc"]
        assert register_version(s, "req-2", round(auc1 + 0.01, 6), windows) == "2"
        settings = Settings(broker=bs, topics_dir=s.topics, gates_dir=s.gates)
        bridge = Bridge(
            FailingTags(s.client),
            settings,
            Connection(bs),
            s.catalog,
            [s.model],
            download_digest(mlflow_uri),
        )
        with pytest.raises(RuntimeError, match="crash between produce and tag"):
            asyncio.run(bridge.sync(aliases=False))
        assert TAG_PUBLISHED not in s.version_tags("2")
        out = s.sync("--only", "updates")
        assert f"published {s.model} version 2 (event mlflow/{s.model}/2)" in out.stdout
        sent = [(k, v) for k, v in s.records("model_updates") if b'"version":"2"' in (v or b"")]
        assert len(sent) == 2 and sent[0] == sent[1]  # the same event, byte for byte
        wait_for(lambda: subject_outcomes("2") == ["promote"])
        wait_for(settled)
        assert subject_outcomes("2") == ["promote"]  # decided once: the second was a duplicate
        dlq = [orjson.loads(v or b"{}") for _, v in s.records("dlq")]
        assert not [d for d in dlq if d.get("code") == "E_DUPLICATE_CONFLICT"], dlq

        # the passing version is the challenger (staged rollout)
        wait_for(lambda: (c := champions()) is not None and c.challenger == "2")
        out = s.sync()
        assert f"alias {s.model}@challenger: (none) -> 2" in out.stdout
        assert s.aliases() == {"champion": "1", "challenger": "2"}

        # a good live interval crowns it
        perf = factories.performance("perf-2", model=s.model, version="2")
        perf["metrics"] = {"auc": round(auc1 + 0.01, 6)}
        produce(perf)
        wait_for(lambda: subject_outcomes("2") == ["promote", "promote"])
        wait_for(lambda: (c := champions()) is not None and c.version == "2")
        out = s.sync()
        assert f"alias {s.model}@champion: 1 -> 2" in out.stdout
        assert f"alias {s.model}@challenger: 2 -> (removed)" in out.stdout
        assert s.aliases() == {"champion": "2"}

        # a signed rollback: the champion alias moves back
        rb = s.cli("rollback", s.model, "--actor", "alice", "--reason", "canary", env=KEYS)
        assert rb.returncode == 0, rb.stderr
        wait_for(lambda: (c := champions()) is not None and c.version == "1")
        out = s.sync()
        assert f"alias {s.model}@champion: 2 -> 1" in out.stdout
        assert s.aliases() == {"champion": "1"}
        again = s.sync()
        assert again.returncode == 0
        assert again.stdout.splitlines() == [
            "mlflow sync: published 0, already published 2, skipped 0, pending 0, ignored 0; "
            "aliases moved 0"
        ]
    finally:
        worker.stop()
        trainer.terminate()
        try:
            trainer.wait(timeout=20)
        except subprocess.TimeoutExpired:
            trainer.kill()
        trainer_log.close()


def test_the_loop_follows_until_sigterm(
    embedded_bootstrap: str, mlflow_uri: str, tmp_path: Path
) -> None:
    """`--interval`: a version registered while it runs is published and a champions record
    moves the alias, without restarting it; idle passes print nothing; SIGTERM ends it, 0."""
    s = Setup(embedded_bootstrap, tmp_path, mlflow_uri)
    args = ["mlflow", "sync", "--tracking-uri", mlflow_uri, "--interval", "0.5"]
    args += ["--broker", s.bootstrap, "--topics", str(s.topics), "--gates", str(s.gates)]
    errors = tmp_path / "loop.stderr"
    with errors.open("wb") as err_out:  # the child keeps its own copy of the descriptor
        loop = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", *args],
            stdout=subprocess.PIPE,
            stderr=err_out,
            text=True,
            cwd=ROOT,
        )
    lines: list[str] = []
    assert loop.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(loop.stdout.readline, "")))
    reader.start()
    try:
        # the first pass finds no registered model yet
        wait_for(lambda: any(x.startswith("mlflow sync:") for x in lines), timeout=60, every=0.2)
        version = register_version(s, "req-loop", 0.8, [C.format(10)])
        wait_for(lambda: TAG_PUBLISHED in s.version_tags(version), timeout=60, every=0.5)
        s.champion(version)
        wait_for(
            lambda: s.client.get_registered_model(s.model).aliases == {"champion": version},
            timeout=60,
            every=0.5,
        )
        assert s.aliases() == {"champion": version}
        time.sleep(2)  # a few idle passes
    finally:
        loop.send_signal(signal.SIGTERM)
        loop.wait(timeout=60)
        reader.join(timeout=10)
    assert loop.returncode == 0, errors.read_text()
    lines = [x.rstrip("\n") for x in lines]
    assert f"published {s.model} version 1 (event mlflow/{s.model}/1)" in lines
    assert f"alias {s.model}@champion: (none) -> 1" in lines
    assert f"note {s.model}: no registered model of that name in MLflow" in lines
    # a summary per pass that did something, not one per idle pass
    summaries = [x for x in lines if x.startswith("mlflow sync:")]
    assert 2 <= len(summaries) <= 4, lines
    assert len(s.updates()) == 1
