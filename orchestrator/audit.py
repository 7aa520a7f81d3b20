"""`orchestrator audit`: the decision history of a subject, the lineage of a model version down
to arrival events and their offsets, and which version was champion at a given time."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson

from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.codec import parse_obj
from orchestrator.core.timeutil import parse_rfc3339_ms
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.read import read_range, read_topic


class UnknownSubject(LookupError):
    pass


def load_decisions(conn: Connection, catalog: Catalog) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for _, (_, _, value) in asyncio.run(read_topic(conn, catalog.name("audit"))):
        if value:
            d = orjson.loads(value)
            seen.setdefault(d["decision_id"], d)
    return sorted(seen.values(), key=lambda d: (d["subject"]["id"], d["revision"], d["decided_at"]))


def history(decisions: list[dict[str, Any]], subject: str) -> list[dict[str, Any]]:
    out = [d for d in decisions if d["subject"]["id"] == subject]
    if not out:
        raise UnknownSubject(f"no decisions recorded for subject {subject!r}")
    return out


def champion_at(decisions: list[dict[str, Any]], model: str, at_ms: int) -> dict[str, Any] | None:
    """The last decision about `model` at or before `at` that set its champion (or None)."""
    relevant = [
        d for d in decisions if d.get("model") == model and d["subject"]["kind"] != "data_window"
    ]
    if not relevant:
        raise UnknownSubject(f"no decisions recorded for model {model!r}")
    before = [d for d in relevant if parse_rfc3339_ms(d["decided_at"]) <= at_ms]
    before.sort(key=lambda d: parse_rfc3339_ms(d["decided_at"]))
    return before[-1] if before else None


def lineage(
    conn: Connection, catalog: Catalog, decisions: list[dict[str, Any]], model: str, version: str
) -> dict[str, Any]:
    """The version's decision, its model.update, and for every trained_on window the data
    decisions and the arrivals (event id, source, uri, checksum, partition, offset)."""
    decs = history(decisions, f"{model}:{version}")
    latest = decs[-1]
    src = latest["inputs"]["offsets"][0]
    records = asyncio.run(
        read_range(conn, src["topic"], src["partition"], src["offset"], src["offset"] + 1)
    )
    update = parse_obj(orjson.loads(records[0][2] or b"{}")) if records else None
    trained_on: list[str] = list(getattr(update, "trained_on", []))
    manifests: dict[tuple[str, int], dict[str, Any]] = {}
    for _, (_, _, value) in asyncio.run(read_topic(conn, catalog.name("windows"))):
        if value:
            m = orjson.loads(value)
            if m["window_id"] in trained_on:
                manifests[(m["window_id"], m["revision"])] = m
    windows = []
    for w in trained_on:
        wdecs = [d for d in decisions if d["subject"]["id"] == w]
        last = wdecs[-1] if wdecs else None
        manifest = manifests.get((w, last["revision"])) if last else None
        windows.append(
            {
                "window_id": w,
                "decisions": [
                    {
                        "revision": d["revision"],
                        "outcome": d["outcome"],
                        "decision_id": d["decision_id"],
                    }
                    for d in wdecs
                ],
                "arrivals": manifest["arrivals"] if manifest else [],
            }
        )
    return {
        "subject": f"{model}:{version}",
        "outcome": latest["outcome"],
        "decision_id": latest["decision_id"],
        "update": {
            "event_id": update.event_id,
            "artifact_uri": getattr(update, "artifact_uri", None),
            "source": src,
        }
        if update
        else None,
        "windows": windows,
    }


def run_query(conn: Connection, catalog: Catalog, args: argparse.Namespace) -> int:
    decisions = load_decisions(conn, catalog)
    try:
        if args.audit_verb == "history":
            result: Any = history(decisions, args.subject)
            text = "\n".join(_history_line(d) for d in result)
        elif args.audit_verb == "lineage":
            result = lineage(conn, catalog, decisions, args.model, args.version)
            text = _lineage_text(result)
        else:
            d = champion_at(decisions, args.model, parse_rfc3339_ms(args.at))
            version = d.get("champion_after") if d else None
            result = {
                "model": args.model,
                "at": args.at,
                "champion": version,
                "decision_id": d["decision_id"] if d else None,
            }
            text = f"{args.model} at {args.at}: champion {version or '(none)'}" + (
                f" (since decision {d['decision_id'][:19]}... at {d['decided_at']})" if d else ""
            )
    except UnknownSubject as exc:
        print(f"orchestrator: error: {exc}", file=sys.stderr)
        return 1
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() if args.json else text)
    return 0


def _history_line(d: dict[str, Any]) -> str:
    failed = [c["code"] for c in d["checks"] if not c["passed"]]
    champ = ""
    if d["subject"]["kind"] != "data_window":
        champ = f" champion {d.get('champion_before') or '-'} -> {d.get('champion_after') or '-'}"
    sup = f" supersedes {d['supersedes'][:19]}..." if d.get("supersedes") else ""
    return (
        f"rev {d['revision']} {d['outcome']:8} {d['decision_id'][:19]}... at {d['decided_at']} "
        f"gate {d['gate']['name']} v{d['gate']['version']}{champ}{sup}"
        + (f" failed {failed}" if failed else "")
    )


def _lineage_text(r: dict[str, Any]) -> str:
    lines = [f"{r['subject']}: {r['outcome']} ({r['decision_id'][:19]}...)"]
    if r["update"]:
        s = r["update"]["source"]
        lines.append(
            f"  model.update {r['update']['event_id']} at {s['topic']}[{s['partition']}]@{s['offset']} "
            f"artifact {r['update']['artifact_uri']}"
        )
    for w in r["windows"]:
        decided = (
            ", ".join(f"rev {d['revision']} {d['outcome']}" for d in w["decisions"])
            or "not decided"
        )
        lines.append(f"  window {w['window_id']}: {decided}")
        for a in w["arrivals"]:
            lines.append(
                f"    arrival {a['event_id']} from {a['source']} at [{a['partition']}]@{a['offset']} "
                f"{a['uri']} {a['checksum']} ({a['record_count']} records)"
            )
    return "\n".join(lines)
