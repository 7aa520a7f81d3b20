"""`orchestrator dev`: a local stack that stays up: the embedded broker (memory only) and, on
request, a worker and the example trainer. Other verbs with the default broker find it through
`.run/embedded-broker.json`; `orchestrator dev --stop` (or Ctrl-C) stops what it started.
`orchestrator demo --keep` leaves its stack up the same way."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from orchestrator.errors import BrokerError
from orchestrator.kafka.admin import apply_topics
from orchestrator.kafka.connect import BrokerInfo
from orchestrator.kafka.embedded import REGISTRY_FILE, free_port, registered_broker
from orchestrator.settings import Settings

STACK_FILE = "dev-stack.json"


@dataclass
class Stack:
    """What a kept stack is made of, recorded in `.run/dev-stack.json`."""

    broker: str
    broker_pid: int | None
    processes: dict[str, int] = field(default_factory=dict)
    web_port: int | None = None
    logs: dict[str, str] = field(default_factory=dict)


def local_worker_key(run_dir: Path) -> Path:
    """A worker key for the local stack (made once, mode 600, in the run directory): it signs
    the idle-source watermarks of the demo's and dev's workers, and replay checks them."""
    path = run_dir / "worker.key"
    if not path.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path


def stop_services(procs: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    """SIGTERM each, then SIGKILL what has not stopped within 30 s (as `worker --processes`
    stops its processes)."""
    from orchestrator.worker.processes import stop

    stop([p for _, p in procs])


def start_services(
    settings: Settings,
    bootstrap: str,
    run_dir: Path,
    *,
    worker: bool,
    trainer: bool,
    env: dict[str, str],
    prefix: str,
) -> tuple[list[tuple[str, subprocess.Popen[bytes]]], int | None]:
    """Start a worker and/or the example trainer as subprocesses on `bootstrap`; their logs go
    to `run_dir/<prefix>-<name>.log`. Returns the processes and the worker's web port."""
    common = ["--broker", bootstrap, "--topics", str(settings.topics_dir)]
    port = free_port() if worker else None
    wanted = []
    if worker:
        wanted.append(
            (
                "worker",
                [
                    sys.executable,
                    "-m",
                    "orchestrator",
                    "worker",
                    *common,
                    "--gates",
                    str(settings.gates_dir),
                    "--web-port",
                    str(port),
                ],
            )
        )
    if trainer:
        wanted.append(("trainer", [sys.executable, "-m", "orchestrator.examples.trainer", *common]))
    procs = []
    run_dir.mkdir(parents=True, exist_ok=True)
    for name, cmd in wanted:
        with (run_dir / f"{prefix}-{name}.log").open("ab") as log:
            procs.append(
                (
                    name,
                    subprocess.Popen(
                        cmd,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env={**os.environ, **env},
                        start_new_session=True,  # survives its starter with --keep
                    ),
                )
            )
    return procs, port


def keep(
    run_dir: Path,
    broker: BrokerInfo,
    procs: list[tuple[str, subprocess.Popen[bytes]]],
    web_port: int | None,
    prefix: str,
) -> Stack:
    """Leave the stack running after this process exits, and record it."""
    if broker.owner is not None:
        broker.owner.kept = True
    pid = broker.owner.pid if broker.owner else None
    return record_stack(run_dir, broker.bootstrap, pid, procs, web_port, prefix)


def record_stack(
    run_dir: Path,
    bootstrap: str,
    broker_pid: int | None,
    procs: list[tuple[str, subprocess.Popen[bytes]]],
    web_port: int | None,
    prefix: str,
) -> Stack:
    """Record a running stack where `dev --stop` finds it (and stops what it names)."""
    stack = Stack(
        broker=bootstrap,
        broker_pid=broker_pid,
        processes={name: p.pid for name, p in procs},
        web_port=web_port,
        logs={name: str(run_dir / f"{prefix}-{name}.log") for name, _ in procs},
    )
    (run_dir / STACK_FILE).write_bytes(orjson.dumps(asdict(stack), option=orjson.OPT_INDENT_2))
    return stack


def stop_stack(run_dir: Path) -> list[str]:
    """Stop what a kept stack recorded (processes, then the embedded broker); returns what."""
    stopped = []
    path = run_dir / STACK_FILE
    try:
        stack = orjson.loads(path.read_bytes())
    except (OSError, ValueError):
        stack = {"processes": {}, "broker_pid": None}
    pids = [(name, int(pid)) for name, pid in stack.get("processes", {}).items()]
    if stack.get("broker_pid"):
        pids.append(("broker", int(stack["broker_pid"])))
    else:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            pids.append(
                ("broker", int(orjson.loads((run_dir / REGISTRY_FILE).read_bytes())["pid"]))
            )
    for name, pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
            stopped.append(f"{name} (pid {pid})")
    for _, pid in pids:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for name in (STACK_FILE, REGISTRY_FILE):
        with contextlib.suppress(OSError):
            (run_dir / name).unlink()
    return stopped


def example_key_env(gates_dir: Path, environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """The environment variables of the access policy's actors that `environ` does not set,
    with the EXAMPLE keys of the simulation (never for anything real): a local worker is
    ready with the shipped gates, and `simulate --example-keys` signs what it verifies."""
    from orchestrator.policies import Policies
    from orchestrator.simulate import EXAMPLE_KEYS

    actors = Policies.load(gates_dir).access.actors
    return {
        a.key_env: EXAMPLE_KEYS[name].decode()
        for name, a in sorted(actors.items())
        if a.key_env and name in EXAMPLE_KEYS and a.key_env not in environ
    }


def write_env_file(path: Path, what: str, env: dict[str, str]) -> None:
    """`export` lines a shell sources to talk to the local stack as its worker does."""
    path.write_text(
        f"# EXAMPLE keys of {what} (never for anything real): replay needs the keys the\n"
        "# worker verified commands and signed its watermarks with\n"
        + "".join(f"export {k}={v}\n" for k, v in sorted(env.items()))
    )
    path.chmod(0o600)


def say(msg: str) -> None:
    print(msg, flush=True)


def run_dev(
    settings: Settings,
    *,
    worker: bool,
    trainer: bool,
    stop: bool,
    embedded: bool = False,
    reset: bool = False,
) -> int:
    """A local broker (and a worker, the trainer) until Ctrl-C or `dev --stop`. The broker is
    Apache Kafka with its data in the run directory when its jars are there (everything
    survives a restart; `reset` empties it first), else, or with `embedded`, the embedded
    broker (memory only)."""
    from orchestrator.kafka import devkafka
    from orchestrator.kafka.clients import Connection
    from orchestrator.kafka.embedded import EmbeddedBroker

    run_dir = settings.state_dir.parent
    if stop:
        stopped = stop_stack(run_dir)
        say("stopped " + ", ".join(stopped) if stopped else "nothing was running")
        return 0
    if not settings.is_embedded:
        raise BrokerError("`orchestrator dev` runs its own broker; leave --broker out")
    running = registered_broker(run_dir)
    if running:
        raise BrokerError(
            f"a broker is already running at {running}; stop it with `orchestrator dev --stop`"
        )
    if reset:
        emptied = devkafka.reset(run_dir)
        say(f"reset: {'the dev broker data is gone' if emptied else 'no dev broker data to reset'}")
    kafka = not embedded and devkafka.available()
    server: devkafka.DevKafka | EmbeddedBroker = (
        devkafka.DevKafka(run_dir) if kafka else EmbeddedBroker(run_dir)
    )
    examples = example_key_env(settings.gates_dir, os.environ) if worker else {}
    server.start()
    try:
        conn = Connection(server.bootstrap)
        catalog = settings.catalog()
        report = asyncio.run(apply_topics(conn, catalog))
        shared = {"ORCHESTRATOR_WORKER_KEY_FILE": str(local_worker_key(run_dir))}
        if not kafka:  # the embedded broker keeps the senders' record times: the opt-in
            shared["ORCHESTRATOR_RECORD_TIME"] = "producer"
        if worker:
            write_env_file(run_dir / "dev.env", "orchestrator dev", {**examples, **shared})
        procs, port = start_services(
            settings,
            server.bootstrap,
            run_dir,
            worker=worker,
            trainer=trainer,
            env={"ORCHESTRATOR_LOG_FORMAT": "json", **examples, **shared},
            prefix="dev",
        )
        stack = record_stack(run_dir, server.bootstrap, server.pid, procs, port, "dev")
        if kafka:
            say(
                f"Apache Kafka {server.bootstrap} (data in {run_dir / devkafka.DATA}: kept across "
                "restarts; `orchestrator dev --reset` empties it)"
            )
        else:
            say(f"embedded broker {server.bootstrap} (memory only: gone when it stops)")
            say(
                "  for a dev stack that survives a restart: `bash deploy/kafka/kafka.sh fetch` "
                "once (Apache Kafka, needs Java and Maven)"
            )
            if worker:
                say(
                    "worker: record_time=producer (the embedded broker keeps senders' record "
                    "times; the worker's clock bounds them): `replay --record-time producer` here"
                )
        if examples:
            say(
                f"worker: no key in the environment for {', '.join(sorted(examples))}: it uses the "
                f"EXAMPLE keys (never for anything real); `. {run_dir / 'dev.env'}` for replay "
                "and signed commands here, or set your own and restart dev"
            )
        say(f"topics: {len(report.created)} created, {len(report.verified)} verified")
        for name, pid in stack.processes.items():
            say(f"{name}: pid {pid}, log {stack.logs[name]}")
        if port:
            say(f"worker: http://127.0.0.1:{port}/metrics, /healthz, /readyz")
        say(
            "other orchestrator commands here use this broker; Ctrl-C or `orchestrator dev --stop` ends it"
        )
        stop_now = False

        def _stop(*_: object) -> None:
            nonlocal stop_now
            stop_now = True

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        try:
            while not stop_now and server.alive:  # `dev --stop` stops the broker too
                time.sleep(0.5)
        finally:
            stop_services(procs)
            with contextlib.suppress(OSError):
                (run_dir / STACK_FILE).unlink()
    finally:
        server.stop()
    say("stopped")
    return 0
