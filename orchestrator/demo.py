"""`orchestrator demo`: the whole loop on one machine, then proof by replay.

Embedded broker (or --broker), topics, a worker and the example trainer as subprocesses, a
seeded simulation in four phases (data, models, close, commands), a readable summary, and
`replay`, whose verdict is the exit code. The HMAC keys are the simulator's EXAMPLE keys.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections import Counter
from typing import Any

import orjson

from orchestrator.audit import ScanTrail, lineage
from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.codec import parse_obj
from orchestrator.dev import keep, local_worker_key, start_services, stop_services
from orchestrator.kafka.admin import apply_topics
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.connect import BrokerInfo
from orchestrator.kafka.read import read_topic
from orchestrator.policies import Policies
from orchestrator.produce import send_events, send_raw
from orchestrator.replay import Range, render, replay
from orchestrator.settings import Settings
from orchestrator.simulate import EXAMPLE_KEYS, generate


def say(msg: str) -> None:
    print(msg, flush=True)


def _values(conn: Connection, topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(v) for _, (_, _, v) in asyncio.run(read_topic(conn, topic)) if v]


def _counts(conn: Connection, catalog: Catalog) -> tuple[int, int]:
    async def go() -> tuple[int, int]:
        w = await read_topic(conn, catalog.name("windows"))
        a = await read_topic(conn, catalog.name("audit"))
        return len(w), len(a)

    return asyncio.run(go())


def _settle(
    conn: Connection,
    catalog: Catalog,
    procs: list[subprocess.Popen[bytes]],
    timeout_s: float,
    quiet_s: float = 3.0,
) -> tuple[int, int]:
    """Wait until windows and decisions stop changing for `quiet_s` seconds."""
    deadline = time.monotonic() + timeout_s
    last, since = (-1, -1), time.monotonic()
    while time.monotonic() < deadline:
        now = _counts(conn, catalog)
        if now != last:
            last, since = now, time.monotonic()
            say(f"[demo]   windows fired {now[0]}, decisions recorded {now[1]}")
        elif time.monotonic() - since >= quiet_s:
            return now
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a demo process exited early; see .run/demo-*.log")
        time.sleep(0.5)
    return last


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
    key_env = {
        a.key_env: EXAMPLE_KEYS[name].decode()
        for name, a in policies.access.actors.items()
        if a.key_env and name in EXAMPLE_KEYS
    }
    key_file = local_worker_key(run_dir)
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
        },
        prefix="demo",
    )
    for name, p in procs:
        say(f"[demo] {name} started (pid {p.pid}, log {run_dir / f'demo-{name}.log'})")
    try:
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
            _settle(conn, catalog, [p for _, p in procs], timeout_s)
    finally:
        if not keep_stack:
            stop_services(procs)
    _summary(conn, catalog)
    say("")
    say("[demo] replay: re-deriving every decision from the topics ...")
    with replay(
        conn, catalog, policies, EXAMPLE_KEYS, Range(), worker_key=key_file.read_bytes().strip()
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
        env_file.write_text(
            "# EXAMPLE keys of the demo (never for anything real): replay needs the keys the\n"
            "# worker verified commands and signed its watermarks with\n"
            + "".join(f"export {k}={v}\n" for k, v in sorted(key_env.items()))
            + f"export ORCHESTRATOR_WORKER_KEY_FILE={key_file}\n"
        )
        say(
            f"[demo] try: . {env_file}; orchestrator replay; orchestrator audit history "
            "<a window id above>; orchestrator audit champion churn --at now"
        )
        say("[demo] stop it with: orchestrator dev --stop")
    return 0 if matched else 1


def _summary(conn: Connection, catalog: Catalog) -> None:
    windows = _values(conn, catalog.name("windows"))
    late = _values(conn, catalog.name("late"))
    dlq = Counter(r["code"] for r in _values(conn, catalog.name("dlq")))
    trail = ScanTrail(conn, catalog)
    decisions = trail.decisions
    champions: dict[str, Any] = {}
    for r in _values(conn, catalog.name("champions")):
        champions[r["model"]] = r["version"]
    training = _values(conn, catalog.name("training"))
    by_outcome = Counter((d["subject"]["kind"], d["outcome"]) for d in decisions)
    revisions = Counter(w["revision"] > 1 for w in windows)
    say("")
    say("== summary ==")
    say(
        f"windows fired     {len({(w['window_id'], w['revision']) for w in windows})} "
        f"({revisions[False]} first firings, {revisions[True]} late revisions)"
    )
    say(f"too late          {len({r['event']['event_id'] for r in late})}")
    say(f"dlq by code       {dict(sorted(dlq.items()))}")
    for kind in ("data_window", "model_version", "command"):
        per_kind = {o: n for (k, o), n in sorted(by_outcome.items()) if k == kind}
        say(f"{kind + ' decisions':17} {per_kind}")
    say(
        f"retraining        {len(training)} requests; trainer versions: "
        f"{sorted({d['subject']['id'] for d in decisions if ':auto-' in d['subject']['id']})}"
    )
    say(f"champions         {dict(sorted(champions.items()))}")
    model = next((m for m, v in sorted(champions.items()) if v), None)
    if model:
        lin = lineage(trail, model, champions[model])
        say(f"lineage of {model}:{champions[model]} ({lin['outcome']})")
        for w in lin["windows"][:3]:
            outcomes = ", ".join(f"rev {d['revision']} {d['outcome']}" for d in w["decisions"])
            say(
                f"  {w['window_id']}: {outcomes}; {len(w['arrivals'])} arrivals, e.g. "
                + (
                    f"{w['arrivals'][0]['event_id']} {w['arrivals'][0]['uri']} @[{w['arrivals'][0]['partition']}]"
                    f"{w['arrivals'][0]['offset']}"
                    if w["arrivals"]
                    else "-"
                )
            )


__all__ = ["run_demo"]
