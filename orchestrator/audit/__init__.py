"""`orchestrator audit`: history, lineage and champion-at-time, answered from the audit index
when there is one (`audit index` builds it; `audit sql` and `audit export` read it), by scanning
the topics otherwise."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from orchestrator.audit.index import AuditIndex, IndexStats
from orchestrator.audit.queries import (
    ScanTrail,
    Trail,
    UnknownSubject,
    champion_at,
    history,
    lineage,
    load_decisions,
)
from orchestrator.core.timeutil import parse_rfc3339_ms

__all__ = [
    "AuditIndex",
    "IndexStats",
    "ScanTrail",
    "Trail",
    "UnknownSubject",
    "champion_at",
    "history",
    "lineage",
    "load_decisions",
    "run_query",
]


def run_query(trail: Trail, args: argparse.Namespace) -> int:
    try:
        if args.audit_verb == "history":
            result: Any = history(trail, args.subject)
            text = "\n".join(_history_line(d) for d in result)
        elif args.audit_verb == "lineage":
            result = lineage(trail, args.model, args.version)
            text = _lineage_text(result)
        else:
            d = champion_at(trail, args.model, parse_rfc3339_ms(args.at))
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
