"""`orchestrator demo`: topics, a worker, a seeded simulated stream, a summary and a verdict.

The verdict re-derives every window, late arrival and rejection from the input events with the
same core the worker runs, and compares with what the worker wrote to Kafka.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.codec import parse_obj
from orchestrator.derive import Derived, derive, window_facts
from orchestrator.kafka.admin import apply_topics
from orchestrator.kafka.connect import BrokerInfo
from orchestrator.kafka.embedded import free_port
from orchestrator.kafka.read import read_topic
from orchestrator.policies import Policies
from orchestrator.produce import send_events, send_raw
from orchestrator.settings import Settings
from orchestrator.simulate import generate


def say(msg: str) -> None:
    print(msg, flush=True)


def _observe(bootstrap: str, catalog: Catalog) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        windows: dict[Any, Any] = {}
        conflicts = 0
        for _, (_, _, value) in await read_topic(bootstrap, catalog.name("windows")):
            key, facts = window_facts(orjson.loads(value or b"{}"))
            conflicts += key in windows and windows[key] != facts
            windows[key] = facts
        late = sorted(
            {
                orjson.loads(v or b"{}")["event"]["event_id"]
                for _, (_, _, v) in await read_topic(bootstrap, catalog.name("late"))
            }
        )
        dlq = Counter(
            orjson.loads(v or b"{}")["code"]
            for _, (_, _, v) in await read_topic(bootstrap, catalog.name("dlq"))
        )
        return {"windows": windows, "late": late, "dlq": dlq, "conflicts": conflicts}

    return asyncio.run(go())


def run_demo(settings: Settings, broker: BrokerInfo, *, seed: int, timeout_s: float) -> int:
    started = time.monotonic()
    catalog = Catalog.load(settings.topics_dir)
    specs = Policies.load(settings.gates_dir).dataset_specs()
    say(f"[demo] broker {broker.bootstrap} ({'embedded' if broker.embedded else 'external'})")
    report = asyncio.run(apply_topics(broker.bootstrap, catalog))
    say(f"[demo] topics: {len(report.created)} created, {len(report.verified)} verified")

    run_dir = settings.state_dir.parent
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "demo-worker.log"
    app_id = f"{settings.app_id}-demo-{seed}-{int(time.time())}"
    cmd = [
        sys.executable,
        "-m",
        "orchestrator",
        "worker",
        "--broker",
        broker.bootstrap,
        "--topics",
        str(settings.topics_dir),
        "--gates",
        str(settings.gates_dir),
        "--web-port",
        str(free_port()),
    ]
    with open(log_path, "ab") as log:
        worker = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ORCHESTRATOR_APP_ID": app_id, "ORCHESTRATOR_LOG_FORMAT": "json"},
        )
    say(f"[demo] worker started (pid {worker.pid}, log {log_path})")
    try:
        stream = generate(specs, seed=seed)
        events = [parse_obj(e) for e in stream.events]
        sent = asyncio.run(send_events(settings, broker.bootstrap, catalog, events))
        asyncio.run(send_raw(broker.bootstrap, catalog.name("arrivals"), stream.malformed))
        say(
            f"[demo] simulated stream (seed {seed}): {sent} events, {len(stream.malformed)} malformed records"
        )
        want = derive(specs, stream.events)
        got = _wait(broker.bootstrap, catalog, want, worker, timeout_s)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
    return _summary(want, got, len(stream.malformed), time.monotonic() - started, log_path)


def _wait(
    bootstrap: str,
    catalog: Catalog,
    want: Derived,
    worker: subprocess.Popen[bytes],
    timeout_s: float,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    last = -1
    while True:
        got = _observe(bootstrap, catalog)
        done = set(got["windows"]) >= set(want.windows) and len(got["late"]) >= len(want.late)
        if len(got["windows"]) != last:
            last = len(got["windows"])
            say(
                f"[demo] windows fired {last}/{len(want.windows)}, late {len(got['late'])}, "
                f"dlq {sum(got['dlq'].values())}"
            )
        if done or time.monotonic() > deadline or worker.poll() is not None:
            time.sleep(1.0)
            return _observe(bootstrap, catalog)
        time.sleep(1.0)


def _summary(
    want: Derived, got: dict[str, Any], malformed: int, elapsed: float, log_path: Path
) -> int:
    by_dataset = Counter(wid.split("/")[0] for wid, _ in got["windows"])
    revisions = Counter(rev for _, rev in got["windows"])
    say("")
    say("== summary ==")
    say(
        f"windows fired:  {len(got['windows'])} revisions "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(by_dataset.items()))}; "
        f"{revisions.get(1, 0)} first firings, {sum(v for k, v in revisions.items() if k > 1)} late revisions)"
    )
    say(f"too late:       {len(got['late'])} ({', '.join(got['late'])})")
    say(f"dlq by code:    {dict(sorted(got['dlq'].items()))}")
    example = sorted(got["windows"])[0] if got["windows"] else None
    if example:
        digest, total, ids = got["windows"][example]
        say(
            f"one manifest:   {example[0]} rev {example[1]}: {len(ids)} arrivals, {total} records, {digest[:23]}..."
        )
    problems = []
    if got["windows"] != want.windows:
        missing = sorted(set(want.windows) - set(got["windows"]))
        extra = sorted(set(got["windows"]) - set(want.windows))
        differ = sorted(
            k
            for k in set(want.windows) & set(got["windows"])
            if want.windows[k] != got["windows"][k]
        )
        problems.append(f"windows: missing {missing}, extra {extra}, different {differ}")
    if got["late"] != want.late:
        problems.append(f"late: expected {want.late}, got {got['late']}")
    expected_dlq = Counter(want.rejected) + Counter({"_malformed": malformed})
    if sum(got["dlq"].values()) != sum(expected_dlq.values()):
        problems.append(
            f"dlq: expected {sum(expected_dlq.values())} records, got {sum(got['dlq'].values())}"
        )
    if got["conflicts"]:
        problems.append(f"{got['conflicts']} conflicting window records")
    say("")
    if problems:
        say("verdict: MISMATCH between the worker's output and the core's re-derivation")
        for p in problems:
            say(f"  - {p}")
        say(f"worker log: {log_path}")
        return 1
    say(
        f"verdict: every window, late arrival and rejection re-derived from the input matches ({elapsed:.1f} s)"
    )
    return 0
