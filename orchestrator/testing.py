"""Helpers that the tests of every tier and the benchmarks share: a worker in a subprocess,
waiting for a condition, and gates directories written from policy documents.

Shipped with the package, like structlog's `testing` module, so that every tier uses one copy
and no test file imports another. It imports no test framework.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from orchestrator.kafka.embedded import free_port

__all__ = [
    "Worker",
    "access_policy",
    "dataset_policy",
    "model_policy",
    "wait_for",
    "write_gates",
]


def wait_for(
    pred: Callable[[], object],
    timeout: float = 90,
    what: str = "the worker",
    every: float = 1.0,
) -> None:
    """Ask `pred` every `every` seconds until it is true; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def free_ports(n: int, host: str = "127.0.0.1") -> int:
    """The first of `n` consecutive ports that are free now (a port the kernel hands out, and
    the ones after it checked)."""
    for _ in range(100):
        base = free_port(host)
        if all(_bindable(host, base + i) for i in range(1, n)):
            return base
    raise RuntimeError(f"no {n} consecutive free ports found")


def _bindable(host: str, port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


class Worker:
    """`orchestrator worker` in a subprocess, started, killed, frozen and stopped by its own pid.

    Each start appends the worker's output to `log`. `args` and `env` are plain attributes:
    a caller may still change them before `start`. With `bootstrap` None the worker takes its
    broker from its settings (the environment). A process that `start` creates is also added
    to `started`, if given, so that a teardown can kill whatever a failed test left running.
    """

    #: seconds `readyz` and `metric` wait for an answer (a subclass may allow more)
    http_timeout: float = 2

    def __init__(
        self,
        bootstrap: str | None,
        topics: Path,
        gates: Path,
        app_id: str,
        log: Path,
        *,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        cwd: Path | None = None,
        stop_timeout: float = 30,
        started: list[subprocess.Popen[bytes]] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        # `worker --processes N` serves on port .. port + N - 1: all of them free
        n = int(args[list(args).index("--processes") + 1]) if "--processes" in args else 1
        self.port = free_ports(n)
        broker = [] if bootstrap is None else ["--broker", bootstrap]
        self.args = [
            sys.executable,
            "-m",
            "orchestrator",
            "worker",
            *broker,
            "--topics",
            str(topics),
            "--gates",
            str(gates),
            "--web-port",
            str(self.port),
            *args,
        ]
        self.env: dict[str, str] = {
            **os.environ,
            "ORCHESTRATOR_APP_ID": app_id,
            "ORCHESTRATOR_LOG_FORMAT": "json",
            **(env or {}),
        }
        self.log = log
        #: the working directory: the log's directory unless given
        self.cwd = cwd or log.parent
        #: seconds `stop` waits after SIGTERM before it sends SIGKILL
        self.stop_timeout = stop_timeout
        self.started = started
        self.proc: subprocess.Popen[bytes] | None = None
        #: how many times `start` ran
        self.starts = 0

    @property
    def app_id(self) -> str:
        return self.env["ORCHESTRATOR_APP_ID"]

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd
            )
        if self.started is not None:
            self.started.append(self.proc)
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL, and wait until the process is gone."""
        assert self.proc
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def freeze(self) -> None:
        """SIGSTOP: the process stays, does nothing, answers nothing (a long GC pause, a VM
        migration, a stopped container)."""
        assert self.proc
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT: a frozen worker goes on."""
        assert self.proc
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """SIGTERM (a clean stop), then SIGKILL if it takes longer than `stop_timeout`."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def readyz(self) -> dict[str, Any] | None:
        """The /readyz answer (ready or not), or None while nothing answers."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/readyz", timeout=self.http_timeout
            ) as r:
                return dict(json.loads(r.read()))
        except urllib.error.HTTPError as exc:
            return dict(json.loads(exc.read()))
        except OSError:
            return None

    def metric(self, name: str, labels: str = "") -> float:
        """The sum of the series of `name` whose label text contains `labels`; -1.0 while
        nothing answers."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/metrics", timeout=self.http_timeout
            ) as r:
                text = r.read().decode()
        except OSError:
            return -1.0
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                series, value = line.rsplit(" ", 1)
                if labels in series[len(name) :]:
                    total += float(value)
        return total


# -- gates directories -----------------------------------------------------------------------


def dataset_policy(
    name: str,
    *,
    window: str = "PT1M",
    out_of_orderness: str = "PT10S",
    allowed_lateness: str = "PT30S",
    max_records: int = 10_000_000,
    drift_last: int = 5,
    drift_max_ratio: float = 50.0,
    **fields: Any,
) -> dict[str, Any]:
    """A dataset policy: its window and time bounds, a record-count check (an error) and a
    volume-drift check (a warning); `fields` adds or replaces top-level fields."""
    return {
        "kind": "dataset",
        "name": name,
        "version": 1,
        "window": window,
        "out_of_orderness": out_of_orderness,
        "allowed_lateness": allowed_lateness,
        "checks": {
            "record_count": {"min": 1, "max": max_records, "severity": "error"},
            "volume_drift": {
                "last": drift_last,
                "max_ratio": drift_max_ratio,
                "severity": "warn",
            },
        },
        **fields,
    }


def model_policy(
    name: str,
    datasets: Sequence[str],
    *,
    metric: str = "auc",
    minimum: float = 0.6,
    tolerance: float = 0.01,
    **fields: Any,
) -> dict[str, Any]:
    """A model policy over `datasets`: one required metric, at least `minimum`, and the primary
    metric (higher is better, within `tolerance`); `fields` adds or replaces top-level fields."""
    return {
        "kind": "model",
        "name": name,
        "version": 1,
        "datasets": list(datasets),
        "required_metrics": [metric],
        "thresholds": {metric: {"min": minimum}},
        "primary_metric": {"name": metric, "direction": "max", "tolerance": tolerance},
        **fields,
    }


def access_policy(allow: Mapping[str, Mapping[str, Sequence[str]]]) -> dict[str, Any]:
    """Who may do what: actor -> action -> models; each actor's key in the environment
    variable ORCHESTRATOR_KEY_<ACTOR>."""
    return {
        "kind": "access",
        "version": 1,
        "actors": {
            actor: {
                "key_env": f"ORCHESTRATOR_KEY_{actor.upper()}",
                "allow": [{"action": a, "models": list(m)} for a, m in actions.items()],
            }
            for actor, actions in allow.items()
        },
    }


#: where each kind of policy lives in a gates directory
_PLACES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "dataset": lambda p: f"datasets/{p['name']}.yaml",
    "model": lambda p: f"models/{p['name']}.yaml",
    "access": lambda _: "access.yaml",
}


def write_gates(directory: Path, policies: Iterable[Mapping[str, Any]]) -> Path:
    """A gates directory holding `policies` (documents of kind dataset, model or access),
    each in its own file where `Policies.load` reads it; returns `directory`."""
    for policy in policies:
        path = directory / _PLACES[policy["kind"]](policy)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(dict(policy)))
    return directory


def write_catalog(
    directory: Path, prefix: str, partitions: int | None = None, *, root: Path | None = None
) -> Path:
    """A copy of the topic catalog (`root`/topics, the shipped one by default) whose topic names
    carry `prefix`, so that runs never share topics; every topic with `partitions` if given."""
    source = (root or Path(__file__).resolve().parents[1]) / "topics"
    directory.mkdir(parents=True, exist_ok=True)
    for src in sorted(source.glob("*.yaml")):
        data = yaml.safe_load(src.read_text())
        data["name"] = f"{prefix}.{data['name']}"
        if partitions is not None:
            data["partitions"] = partitions
        (directory / src.name).write_text(yaml.safe_dump(data))
    return directory


class KafkaBroker:
    """A single-node Apache Kafka from `deploy/kafka/kafka.sh` (of `root`, this checkout by
    default) in `run_dir`, restartable with its data and port; SIGKILL by the pid it started."""

    def __init__(self, run_dir: Path, *, root: Path | None = None) -> None:
        self.run_dir = run_dir
        self.script = (root or Path(__file__).resolve().parents[1]) / "deploy/kafka/kafka.sh"
        self.bootstrap = ""

    def start(self, attempts: int = 1) -> str:
        """Start (or restart) it; its bootstrap address. A start that fails is tried again up
        to `attempts` times in all, from a clean directory; then RuntimeError with the log."""
        err = ""
        for _ in range(attempts):
            out = subprocess.run(
                ["bash", str(self.script), "start", str(self.run_dir)],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if out.returncode == 0:
                self.bootstrap = out.stdout.strip().splitlines()[-1]
                return self.bootstrap
            err = out.stderr[-2000:]
            if attempts > 1:
                self.stop()
                shutil.rmtree(self.run_dir, ignore_errors=True)
        msg = f"kafka did not start in {self.run_dir}: {err}"
        raise RuntimeError(msg)

    @property
    def pid(self) -> int:
        return int((self.run_dir / "kafka.pid").read_text())

    def kill(self) -> None:
        """SIGKILL by the pid we started, and wait until it is gone."""
        pid = self.pid
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        msg = f"kafka {pid} survived SIGKILL"
        raise RuntimeError(msg)

    def stop(self) -> None:
        """A clean stop (SIGTERM, controlled shutdown)."""
        subprocess.run(
            ["bash", str(self.script), "stop", str(self.run_dir)], timeout=120, check=False
        )
