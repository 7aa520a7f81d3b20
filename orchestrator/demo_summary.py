"""What `orchestrator demo` prints at the end: the summary of every output topic (decisions,
champions, the staged rollouts' story, lineage), and what to try next."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from orchestrator.audit import champion_at, lineage
from orchestrator.audit.scan import ScanTrail
from orchestrator.catalog.topics import Catalog
from orchestrator.errors import E_CHALLENGER_REPLACED, E_LIVE_DEGRADED, DemoError
from orchestrator.examples.trainer import version_for
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.read import read_topic


def say(msg: str) -> None:
    print(msg, flush=True)


def _values(conn: Connection, topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(v) for _, (_, _, v) in asyncio.run(read_topic(conn, topic)) if v]


def what_next(
    kept: bool, window: str | None, run_dir: Path, activate: str | None = None
) -> list[str]:
    """The closing lines: what to try next (after `demo --keep`, or now if it was kept).
    `activate`: the virtualenv's activate script, when `orchestrator` is not on PATH (after
    `make demo` it is in .venv/bin): every line below needs it."""
    path = (
        [f"  . {activate}" + " " * max(1, 37 - len(activate)) + "# puts `orchestrator` on PATH"]
        if activate
        else []
    )
    first = (
        ["== what next (still running; `orchestrator dev --stop` stops it) =="]
        if kept
        else [
            "== what next ==",
            "  orchestrator demo --keep               # run it again and leave it up, then:",
        ]
    )
    return [
        *first[:1],
        *path,
        *first[1:],
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


def activate_hint(path: str | None = None, executable: str | None = None) -> str | None:
    """The activate script of the environment this process runs in, if its `orchestrator`
    is not what PATH finds (None: `orchestrator` on PATH is this one, or there is none)."""
    import os
    import shutil
    import sys

    bindir = Path(executable or sys.executable).parent
    script = bindir / "activate"
    if not script.is_file():
        return None
    found = shutil.which("orchestrator", path=path if path is not None else os.environ.get("PATH"))
    if found and Path(found).resolve().parent == bindir.resolve():
        return None
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def summary(conn: Connection, catalog: Catalog) -> str | None:
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
    for kind in ("data_window", "model_version", "command", "training"):
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
    for line in drift_lines(decisions, training):
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


def drift_lines(decisions: list[dict[str, Any]], requests: list[dict[str, Any]]) -> list[str]:
    """The drift story: windows whose drift checks failed (their figures), the retraining they
    asked for, and what became of the version trained for it."""
    lines = []
    for d in decisions:
        failed = [c for c in d["checks"] if c["name"].startswith("drift.") and not c["passed"]]
        if d["subject"]["kind"] == "data_window" and failed:
            figures = ", ".join(
                f"{c['name'].split('.', 1)[1]} {c['observed'].get('value')}" for c in failed
            )
            lines.append(f"{d['subject']['id']} {d['outcome']}: {figures}")
    by_id = {d["decision_id"]: d for d in decisions}
    for r in requests:
        if r.get("reason") != "drift":
            continue
        version = f"{r['model']}:{version_for(r['request_id'])}"
        fate = [d for d in decisions if d["subject"]["id"] == version]
        made = by_id.get(r.get("decision_id") or "")
        lines.append(
            f"{r['model']} retraining asked (reason drift, decision "
            f"{(made or {}).get('decision_id', '?')[:19]}...) on {r['windows']}; trainer: "
            + (f"{version} {fate[-1]['outcome']}" if fate else f"{version} not decided yet")
        )
    return [f"{'drift' if i == 0 else '':17} {line}" for i, line in enumerate(lines)]


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
