"""`orchestrator demo`: the whole loop on one machine, then proof by replay.

Embedded broker (or --broker), topics, a worker and the example trainer as subprocesses, a
seeded simulation in phases (data, models, close, live, commands), a readable summary, and
`replay`, whose verdict is the exit code. The HMAC keys are the simulator's EXAMPLE keys.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

import orjson

from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.codec import parse_obj
from orchestrator.demo_summary import activate_hint, rollout_lines, say, summary, what_next
from orchestrator.dev import (
    example_key_env,
    keep,
    local_worker_key,
    start_services,
    stop_services,
    write_env_file,
)
from orchestrator.errors import DemoError
from orchestrator.examples.trainer import version_for
from orchestrator.kafka.admin import apply_topics
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.connect import BrokerInfo
from orchestrator.kafka.read import read_topic
from orchestrator.policies import Policies
from orchestrator.produce import send_events, send_raw
from orchestrator.replay import Range, render, replay
from orchestrator.settings import Settings
from orchestrator.simulate import EXAMPLE_KEYS, generate


def _counts(conn: Connection, catalog: Catalog) -> tuple[int, int]:
    async def go() -> tuple[int, int]:
        w = await read_topic(conn, catalog.name("windows"))
        a = await read_topic(conn, catalog.name("audit"))
        return len(w), len(a)

    return asyncio.run(go())


def worker_status(port: int | None) -> tuple[bool, str]:
    """(ready, what the worker is doing) from its /readyz, in words for the progress lines."""
    if port is None:
        return True, "no worker"
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
            body = orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:  # 503: not ready, and the body says why
        try:
            body = orjson.loads(exc.read())
        except orjson.JSONDecodeError:
            return False, f"worker answers {exc.code}"
    except (OSError, orjson.JSONDecodeError):
        return False, "waiting for the worker to start (its HTTP port is not up yet)"
    if body.get("ready"):
        return True, "worker ready"
    return False, not_ready_reason(body)


def not_ready_reason(body: dict[str, Any]) -> str:
    if not body.get("broker_reachable", True):
        return "worker waiting for the broker"
    inputs = {k: v for k, v in body.items() if isinstance(v, dict) and "assigned" in v}
    recovering = sorted(p for v in inputs.values() for p in v.get("recovering") or ())
    if recovering:
        return f"worker recovering state ({len(recovering)} partitions)"
    if any(not v.get("assigned") for v in inputs.values()):
        return "worker joining its consumer groups (partitions not assigned yet)"
    if not body.get("commands_verifiable", True):
        return "worker cannot verify commands (see its log)"
    return "waiting for the worker to be ready"


def wait_ready(
    port: int | None, procs: list[subprocess.Popen[bytes]], timeout_s: float, every_s: float = 5.0
) -> None:
    """Wait for the worker's /readyz, saying what it is doing when that changes (and every
    `every_s` seconds while it does not)."""
    started = time.monotonic()
    deadline = started + timeout_s
    said, said_at = "", 0.0
    while True:
        ready, doing = worker_status(port)
        now = time.monotonic()
        if ready:
            say(f"[demo]   worker ready after {now - started:.1f} s")
            return
        if doing != said or now - said_at >= every_s:
            say(f"[demo]   {doing} ({now - started:.0f} s)")
            said, said_at = doing, now
        if any(p.poll() is not None for p in procs):
            raise DemoError("a demo process exited early; see .run/demo-*.log")
        if now >= deadline:
            raise DemoError(
                f"the worker was not ready within {timeout_s:.0f} s ({doing}); see "
                ".run/demo-worker.log, or give it longer with --timeout"
            )
        time.sleep(0.5)


def _settle(
    conn: Connection,
    catalog: Catalog,
    procs: list[subprocess.Popen[bytes]],
    timeout_s: float,
    port: int | None = None,
    quiet_s: float = 3.0,
) -> tuple[int, int]:
    """Wait until windows and decisions stop changing for `quiet_s` seconds while the worker
    is ready (a worker that is rebalancing or recovering has not finished)."""
    deadline = time.monotonic() + timeout_s
    last, since = (-1, -1), time.monotonic()
    said = ""
    while time.monotonic() < deadline:
        now = _counts(conn, catalog)
        ready, doing = worker_status(port)
        if now != last:
            last, since = now, time.monotonic()
            say(f"[demo]   windows fired {now[0]}, decisions recorded {now[1]}")
        elif not ready:
            since = time.monotonic()
            if doing != said:
                say(f"[demo]   {doing}")
        elif time.monotonic() - since >= quiet_s:
            return now
        said = "" if ready else doing
        if any(p.poll() is not None for p in procs):
            raise DemoError("a demo process exited early; see .run/demo-*.log")
        time.sleep(0.5)
    return last


def _await_retrained(
    conn: Connection, catalog: Catalog, procs: list[subprocess.Popen[bytes]], timeout_s: float
) -> None:
    """Wait until every drift-triggered training request has its trained version decided (the
    trainer answers asynchronously; the quiet period of `_settle` may end before it does)."""
    deadline = time.monotonic() + timeout_s

    async def pending() -> list[str]:
        requests = [
            orjson.loads(v)
            for _, (_, _, v) in await read_topic(conn, catalog.name("training"))
            if v
        ]
        decided = {
            orjson.loads(v)["subject"]["id"]
            for _, (_, _, v) in await read_topic(conn, catalog.name("audit"))
            if v
        }
        wanted = [
            f"{r['model']}:{version_for(r['request_id'])}"
            for r in requests
            if r.get("reason") == "drift"
        ]
        return [v for v in wanted if v not in decided]

    while waiting := asyncio.run(pending()):
        if time.monotonic() >= deadline:
            raise DemoError(f"the trainer's {waiting} were not decided within {timeout_s:.0f} s")
        if any(p.poll() is not None for p in procs):
            raise DemoError("a demo process exited early; see .run/demo-*.log")
        time.sleep(0.5)
    say("[demo]   drift retraining: every version trained for it is decided")


def run_demo(
    settings: Settings, broker: BrokerInfo, *, seed: int, timeout_s: float, keep_stack: bool = False
) -> int:
    started = time.monotonic()
    catalog = Catalog.load(settings.topics_dir)
    policies = Policies.load(settings.gates_dir)
    bs, conn = broker.bootstrap, broker.conn
    say(f"[demo] broker {bs} ({'embedded' if broker.embedded else 'external'})")
    report = asyncio.run(apply_topics(conn, catalog))
    say(f"[demo] topics: {len(report.created)} created, {len(report.verified)} verified")

    run_dir = settings.state_dir.parent
    run_dir.mkdir(parents=True, exist_ok=True)
    key_env = example_key_env(settings.gates_dir, {})  # the demo signs with these
    key_file = local_worker_key(run_dir)
    # the embedded broker keeps the time each sender puts on a record: there the worker opts in
    # to sender-set times bounded by its own clock (README, Security); Apache Kafka stamps them
    record_time = "producer" if broker.embedded else settings.record_time
    say(f"[demo] record time: {record_time}")
    procs, port = start_services(
        settings,
        bs,
        run_dir,
        worker=True,
        trainer=True,
        env={
            **key_env,
            "ORCHESTRATOR_APP_ID": f"{settings.app_id}-demo-{seed}-{int(time.time())}",
            "ORCHESTRATOR_LOG_FORMAT": "json",
            "ORCHESTRATOR_WORKER_KEY_FILE": str(key_file),
            "ORCHESTRATOR_RECORD_TIME": record_time,
        },
        prefix="demo",
    )
    for name, p in procs:
        say(f"[demo] {name} started (pid {p.pid}, log {run_dir / f'demo-{name}.log'})")
    try:
        wait_ready(port, [p for _, p in procs], timeout_s)
        phases = generate(policies, EXAMPLE_KEYS, seed=seed)
        for phase in phases:
            sent = asyncio.run(
                send_events(settings, conn, catalog, [parse_obj(e) for e in phase.events])
            )
            if phase.malformed:
                asyncio.run(send_raw(conn, catalog.name("arrivals"), phase.malformed))
            say(
                f"[demo] phase {phase.name}: {sent} events"
                + (f", {len(phase.malformed)} malformed records" if phase.malformed else "")
            )
            _settle(conn, catalog, [p for _, p in procs], timeout_s, port)
            if phase.name == "drift":
                _await_retrained(conn, catalog, [p for _, p in procs], timeout_s)
    finally:
        if not keep_stack:
            stop_services(procs)
    window = summary(conn, catalog)
    say("")
    say("[demo] replay: re-deriving every decision from the topics ...")
    with replay(
        conn,
        catalog,
        policies,
        EXAMPLE_KEYS,
        Range(),
        worker_key=key_file.read_bytes().strip(),
        record_time=record_time,
    ) as result:
        say(render(result))
        matched = result.ok
    say(f"[demo] done in {time.monotonic() - started:.1f} s")
    if keep_stack:
        stack = keep(run_dir, broker, procs, port, "demo")
        say("")
        say(
            f"[demo] kept running: broker {stack.broker}, worker pid {stack.processes['worker']} "
            f"(http://127.0.0.1:{port}/metrics), trainer pid {stack.processes['trainer']}"
        )
        env_file = run_dir / "demo.env"
        write_env_file(
            env_file,
            "the demo",
            {
                **key_env,
                "ORCHESTRATOR_WORKER_KEY_FILE": str(key_file),
                "ORCHESTRATOR_RECORD_TIME": record_time,
            },
        )
    say("")
    for line in what_next(keep_stack, window, run_dir, activate_hint()):
        say(line)
    return 0 if matched else 1


__all__ = ["DemoError", "rollout_lines", "run_demo", "what_next"]
