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
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from orchestrator.audit import champion_at, lineage
from orchestrator.audit.scan import ScanTrail
from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.codec import parse_obj
from orchestrator.dev import keep, local_worker_key, start_services, stop_services
from orchestrator.errors import E_CHALLENGER_REPLACED, E_LIVE_DEGRADED, OrchestratorError
from orchestrator.kafka.admin import apply_topics
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.connect import BrokerInfo
from orchestrator.kafka.read import read_topic
from orchestrator.policies import Policies
from orchestrator.produce import send_events, send_raw
from orchestrator.replay import Range, render, replay
from orchestrator.settings import Settings
from orchestrator.simulate import EXAMPLE_KEYS, generate


class DemoError(OrchestratorError):
    """The demo could not run to the end (a process died, the worker never became ready)."""


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
    finally:
        if not keep_stack:
            stop_services(procs)
    window = _summary(conn, catalog)
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
        env_file.write_text(
            "# EXAMPLE keys of the demo (never for anything real): replay needs the keys the\n"
            "# worker verified commands and signed its watermarks with\n"
            + "".join(f"export {k}={v}\n" for k, v in sorted(key_env.items()))
            + f"export ORCHESTRATOR_WORKER_KEY_FILE={key_file}\n"
            + f"export ORCHESTRATOR_RECORD_TIME={record_time}\n"
        )
    say("")
    for line in what_next(keep_stack, window, run_dir):
        say(line)
    return 0 if matched else 1


def what_next(kept: bool, window: str | None, run_dir: Path) -> list[str]:
    """The closing lines: what to try next (after `demo --keep`, or now if it was kept)."""
    first = (
        ["== what next (still running; `orchestrator dev --stop` stops it) =="]
        if kept
        else [
            "== what next ==",
            "  orchestrator demo --keep               # run it again and leave it up, then:",
        ]
    )
    return [
        *first,
        f"  . {run_dir / 'demo.env'}"
        + " " * max(1, 37 - len(str(run_dir / "demo.env")))
        + "# the demo's EXAMPLE keys (replay needs them)",
        f"  orchestrator audit history {window or '<a window id above>'}",
        "  orchestrator audit champion churn --at now",
        "  orchestrator replay --since -1h        # re-derive the last hour's decisions, compare",
        (
            "  docker compose up --build              # Kafka, 2 workers, Prometheus, Grafana "
            "(http://127.0.0.1:3000)"
        ),
    ]


def _summary(conn: Connection, catalog: Catalog) -> str | None:
    """Print the summary; returns a window id to show in "what next"."""
    windows = _values(conn, catalog.name("windows"))
    late = _values(conn, catalog.name("late"))
    dlq = Counter(r["code"] for r in _values(conn, catalog.name("dlq")))
    trail = ScanTrail(conn, catalog)
    decisions = trail.all_decisions()
    champions: dict[str, Any] = {}
    challengers: dict[str, str | None] = {}
    for r in _values(conn, catalog.name("champions")):
        champions[r["model"]] = r.get("version")  # left out: no champion (all rolled back)
        challengers[r["model"]] = r.get("challenger")
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
    # the audit trail's answer, in log order, agrees with what models.champions says now
    now = int(time.time() * 1000)
    answered = {m: champion_at(trail, m, now).champion for m in sorted(champions)}
    if answered != {m: champions[m] for m in sorted(champions)}:
        raise DemoError(
            f"audit champion --at now says {answered}, models.champions says "
            f"{dict(sorted(champions.items()))}"
        )
    say(f"{'':17} audit champion --at now agrees for every model")
    for line in rollout_lines(decisions, challengers):
        say(line)
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
    return str(windows[0]["window_id"]) if windows else None


def _live(check: dict[str, Any]) -> str:
    """A live_guard check in a few words: the live figure against what it was held to."""
    e = check["expected"]
    against = []
    if e.get("live") is not None:
        against.append(f"champion {e['champion']} live {e['live']['value']}")
    if e.get("validation") is not None:
        against.append(f"validation {e['validation']}")
    if e.get("previous_live") is not None:
        against.append(f"{e['previous_champion']} live {e['previous_live']['value']}")
    return (
        f"live {e['metric']} {check['observed'][-1]['value']} vs {' and '.join(against)}, "
        f"tolerance {e['tolerance']}"
    )


def rollout_lines(
    decisions: list[dict[str, Any]], challengers: dict[str, str | None] | None = None
) -> list[str]:
    """The staged rollouts and live-degradation decisions of the audit trail, one line each in
    the order they were decided: versions that became challenger and were crowned by their live
    intervals, champions rolled back (or kept, with nothing to fall back to) and challengers
    rejected on live metrics (E_LIVE_DEGRADED), challengers replaced and older versions
    superseded by a newer challenger; then the challengers still waiting (from
    models.champions)."""
    staged: list[tuple[str, str]] = []
    degraded: list[tuple[str, str]] = []
    challenged: dict[str, str] = {}
    for d in sorted(
        (d for d in decisions if d["subject"]["kind"] == "model_version"),
        key=lambda d: (d["decided_at"], d["subject"]["id"], d["revision"]),
    ):
        subject, at = d["subject"]["id"], d["decided_at"]
        checks = {c["name"]: c for c in d["checks"]}
        guard, stage = checks.get("live_guard"), checks.get("rollout")
        if d["outcome"] == "promote" and stage is not None and stage["passed"]:
            challenged[subject] = d.get("champion_before") or "-"
        elif d["outcome"] == "promote" and guard is not None:
            staged.append(
                (
                    at,
                    (
                        f"{subject} challenger (beside {challenged.pop(subject, '-')}), champion "
                        f"after {len(guard['observed'])} good live intervals"
                    ),
                )
            )
        elif guard is not None and guard["code"] == E_LIVE_DEGRADED:
            challenged.pop(subject, None)
            if d["outcome"] == "rollback":
                what = f"champion {subject} rolled back to {d.get('champion_after') or 'none'}"
            elif d["outcome"] == "hold":
                what = f"champion {subject} kept (no rollback target)"
            else:
                what = f"challenger {subject} rejected"
            degraded.append((at, f"{what}, {E_LIVE_DEGRADED} ({_live(guard)})"))
        elif stage is not None and stage["code"] == E_CHALLENGER_REPLACED:
            challenged.pop(subject, None)
            by = stage["observed"]
            text = (
                f"{subject} challenger, replaced by {by['replaced_by']}"
                if "replaced_by" in by
                else f"{subject} passed, superseded by challenger {by.get('superseded_by')}"
            )
            staged.append((at, text))
        elif subject in challenged and d["outcome"] in ("reject", "override", "rollback"):
            challenged.pop(subject)
            failed = ", ".join(c["code"] for c in d["checks"] if not c["passed"])
            then = f"{d['outcome']} ({failed})" if failed else d["outcome"]
            staged.append((at, f"{subject} challenger, then {then}"))
    waiting = [f"{m}:{v} challenger" for m, v in sorted((challengers or {}).items()) if v]
    lines = [
        f"{'staged rollout' if i == 0 else '':17} {text}" for i, (_, text) in enumerate(staged)
    ]
    lines += [
        f"{'live degradation' if i == 0 else '':17} {text}" for i, (_, text) in enumerate(degraded)
    ]
    if waiting:
        lines.append(f"{'challengers now':17} {', '.join(waiting)}")
    return lines


__all__ = ["rollout_lines", "run_demo"]
