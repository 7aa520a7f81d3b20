"""No one-shot verb starts a throwaway broker: `orchestrator dev` keeps one up (and a worker on
request) that the other verbs find; without it they say how to start one. Key material is
checked at start, and a worker that cannot verify commands says so in /readyz."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson

from tests import factories
from tests.conftest import ROOT, make_catalog, run_cli

NO_BROKER = (
    "orchestrator: error: no broker running: start `orchestrator dev` or pass --broker HOST:PORT"
)


def test_one_shot_verbs_without_a_broker_say_how_to_start_one(tmp_path: Path) -> None:
    """`produce` and `topics apply` with the default broker and none running: one line, exit 2."""
    events = tmp_path / "e.jsonl"
    events.write_bytes(orjson.dumps(factories.arrival()) + b"\n")
    topics = str(ROOT / "topics")
    for args in (
        ["produce", str(events), "--topics", topics, "--gates", str(ROOT / "gates")],
        ["topics", "apply", "--topics", topics],
    ):
        out = run_cli(*args, cwd=tmp_path)
        assert (out.returncode, out.stderr.strip()) == (2, NO_BROKER), out.stderr
        assert "sent" not in out.stdout


def test_dev_keeps_a_broker_and_worker_up_for_the_other_verbs(tmp_path: Path) -> None:
    topics = make_catalog(tmp_path / "topics", "dev")
    common = ["--topics", str(topics), "--gates", str(ROOT / "gates")]
    # no actor key in the environment: dev's worker gets the EXAMPLE keys and says so
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_KEY_")}
    dev = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "dev", "--worker", "--embedded", *common],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        said = []
        assert dev.stdout is not None
        for line in dev.stdout:
            said.append(line)
            if "Ctrl-C" in line:
                break
        text = "".join(said)
        assert "embedded broker 127.0.0.1:" in text and "worker: pid" in text, text
        port = int(text.split("http://127.0.0.1:")[1].split("/")[0])
        topics_only = common[:2]  # topics apply takes no --gates
        out = run_cli("topics", "apply", *topics_only, cwd=tmp_path)
        assert out.returncode == 0 and "verified" in out.stdout, out.stderr
        events = tmp_path / "e.jsonl"
        events.write_bytes(orjson.dumps(factories.arrival()) + b"\n")
        out = run_cli("produce", str(events), *common, cwd=tmp_path)
        assert out.returncode == 0 and "sent 1" in out.stdout, out.stderr
        # the worker dev started answers once it is up (seconds on a loaded machine)
        assert json.loads(_get(f"http://127.0.0.1:{port}/healthz", within_s=60))["status"] == "ok"
        assert "EXAMPLE keys" in text and "ORCHESTRATOR_KEY_ALICE" in text, text
        dev_env = (tmp_path / ".run" / "dev.env").read_text()
        assert "export ORCHESTRATOR_KEY_ALICE=" in dev_env and "EXAMPLE" in dev_env
        deadline = time.monotonic() + 90
        ready: dict[str, object] = {}
        while time.monotonic() < deadline and ready.get("ready") is not True:
            with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
                ready = json.loads(_get(f"http://127.0.0.1:{port}/readyz", within_s=5))
            time.sleep(0.5)
        assert ready.get("ready") is True, ready  # with the shipped gates, keys and all
        stop = run_cli("dev", "--stop", cwd=tmp_path)
        assert stop.returncode == 0 and "broker" in stop.stdout, stop.stdout
        dev.wait(timeout=60)
        out = run_cli("produce", str(events), *common, cwd=tmp_path)
        assert (out.returncode, out.stderr.strip()) == (2, NO_BROKER)
    finally:
        if dev.poll() is None:
            dev.kill()
        run_cli("dev", "--stop", cwd=tmp_path)


def test_a_key_file_readable_by_others_is_refused_at_start(
    embedded_bootstrap: str, tmp_path: Path
) -> None:
    """An actor's key file with mode 644: the worker stops before consuming, saying which file."""
    gates = tmp_path / "gates"
    subprocess.run(["cp", "-r", str(ROOT / "gates"), str(gates)], check=True)
    (gates / "access.yaml").write_text(
        "kind: access\nversion: 1\nactors:\n"
        "  alice: {key_file: alice.key, allow: [{action: rollback, models: [churn]}]}\n"
    )
    key = gates / "alice.key"
    key.write_text("example-key")
    key.chmod(0o644)
    topics = make_catalog(tmp_path / "topics", "perm")
    out = run_cli(
        "worker",
        "--broker",
        embedded_bootstrap,
        "--topics",
        str(topics),
        "--gates",
        str(gates),
        "--apply-topics",
        timeout=60,
    )
    assert out.returncode == 2, out.stderr[-1000:]
    assert "alice.key" in out.stderr and "readable by group or others" in out.stderr


def test_a_worker_that_cannot_verify_commands_is_not_ready(
    embedded_bootstrap: str, tmp_path: Path
) -> None:
    """No key for alice and bob: /readyz answers 503 and names them and where their keys go."""
    from tests.integration.support import make_worker

    topics = make_catalog(tmp_path / "topics", "keys")
    assert (
        run_cli(
            "topics", "apply", "--broker", embedded_bootstrap, "--topics", str(topics)
        ).returncode
        == 0
    )
    w = make_worker(embedded_bootstrap, topics, "nokeys", tmp_path / "w.log")
    w.env = {k: v for k, v in w.env.items() if not k.startswith("ORCHESTRATOR_KEY_")}
    w.start()
    try:
        body = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{w.port}/readyz", timeout=2)
            except urllib.error.HTTPError as exc:
                body = json.loads(exc.read())
                if body["eventtime"]["assigned"]:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert body is not None and body["ready"] is False and body["commands_verifiable"] is False
        assert set(body["unverifiable_actors"]) == {"alice", "bob"}
        assert "ORCHESTRATOR_KEY_ALICE" in body["unverifiable_actors"]["alice"]
    finally:
        w.stop()


def _get(url: str, within_s: float) -> bytes:
    """The body at url, asking again while nothing listens there yet."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return bytes(r.read())
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _dev(cwd: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """`orchestrator dev ARGS` in `cwd`, once it says it is up: the process and what it said."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "dev", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    said = []
    assert proc.stdout is not None
    for line in proc.stdout:
        said.append(line)
        if "Ctrl-C" in line:
            break
    text = "".join(said)
    assert "Ctrl-C" in text, text
    return proc, text


def test_dev_on_apache_kafka_survives_a_restart_and_reset_empties_it(tmp_path: Path) -> None:
    """Where Apache Kafka's jars are (make test fetches them) `dev` runs it with its data in
    .run/kafka: what was sent is there after `dev --stop` and a new `dev`; `--reset` starts
    with nothing."""
    from orchestrator.kafka import devkafka

    assert devkafka.available(), "bash deploy/kafka/kafka.sh fetch (make test does)"
    topics = make_catalog(tmp_path / "topics", "devk")
    common = ["--topics", str(topics), "--gates", str(ROOT / "gates")]
    events = tmp_path / "e.jsonl"
    events.write_bytes(orjson.dumps(factories.arrival("kept-1")) + b"\n")

    def arrivals() -> list[str]:
        out = run_cli("tail", "arrivals", "--all", "--json", "--topics", str(topics), cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        return [json.loads(x)["value"]["event_id"] for x in out.stdout.splitlines()]

    dev, text = _dev(tmp_path, *common)
    try:
        assert "Apache Kafka 127.0.0.1:" in text and "kept across restarts" in text, text
        out = run_cli("produce", str(events), *common, cwd=tmp_path)
        assert out.returncode == 0 and "sent 1" in out.stdout, out.stderr
        assert arrivals() == ["kept-1"]
        stop = run_cli("dev", "--stop", cwd=tmp_path)
        assert stop.returncode == 0 and "broker" in stop.stdout, stop.stdout
        dev.wait(timeout=90)
        dev, text = _dev(tmp_path, *common)  # the same data directory, the same port
        assert "0 created" in text, text
        assert arrivals() == ["kept-1"]
        assert run_cli("dev", "--stop", cwd=tmp_path).returncode == 0
        dev.wait(timeout=90)
        dev, text = _dev(tmp_path, "--reset", *common)
        assert "reset: the dev broker data is gone" in text and " 0 verified" in text, text
        assert arrivals() == []
    finally:
        run_cli("dev", "--stop", cwd=tmp_path)
        if dev.poll() is None:
            dev.kill()
