"""`orchestrator audit`: history, lineage and champion-at-time, answered from the audit index
when there is one (`audit index` builds it; `audit sql` and `audit export` read it), by scanning
the topics otherwise (`audit/scan.py`). Every answer says what it is as of: the offsets read.
This module and `queries` import nothing heavy: a query from the index starts fast
(`audit/fast.py`)."""

from __future__ import annotations

import argparse
from typing import Any

import orjson

from orchestrator.audit.queries import (
    ChampionState,
    Trail,
    champion_at,
    history,
    lineage,
    trained_for,
)
from orchestrator.core.timeutil import parse_rfc3339_ms
from orchestrator.errors import AuditRefused, UnknownSubject

__all__ = [
    "AuditRefused",
    "ChampionState",
    "Trail",
    "UnknownSubject",
    "champion_at",
    "history",
    "lineage",
    "model_version",
    "run_query",
]


def model_version(subject: str, version: str | None = None) -> tuple[str, str]:
    """(model, version) of `MODEL:VERSION`, the one subject syntax of every verb (the older
    `MODEL VERSION` form of `lineage` still works)."""
    if version is not None:
        return subject, version
    model, sep, version = subject.partition(":")
    if not sep or not model or not version:
        raise UnknownSubject(f"{subject!r}: a model version is MODEL:VERSION, e.g. churn:v3")
    return model, version


def run_query(trail: Trail, args: argparse.Namespace, source: str) -> int:
    """Answer one query; `source` says where the answer comes from (for the as-of line)."""
    as_of = {t: {str(p): o for p, o in parts.items()} for t, parts in trail.as_of().items()}
    if args.audit_verb == "history":
        decisions = history(trail, args.subject)
        why = trained_for(trail, decisions)
        result: Any = {"subject": args.subject, "decisions": decisions}
        text = "\n".join(_history_line(d) for d in decisions)
        if why is not None:
            result["trained_for"] = why
            text += "\n" + _why_line(why)
    elif args.audit_verb == "lineage":
        result = lineage(trail, *model_version(args.subject, args.version))
        text = _lineage_text(result)
    else:
        state = champion_at(trail, args.model, parse_rfc3339_ms(args.at))
        result = _champion(args.model, args.at, state)
        text = _champion_text(result)
    if args.json:
        print(
            orjson.dumps(
                {**result, "as_of": {"source": source, "offsets": as_of}},
                option=orjson.OPT_INDENT_2,
            ).decode()
        )
    else:
        print(text)
        print(
            f"as of ({source}): "
            + "; ".join(
                f"{t} " + " ".join(f"[{p}]@{o}" for p, o in parts.items())
                for t, parts in as_of.items()
            )
        )
    return 0


def _champion(model: str, at: str, s: ChampionState) -> dict[str, Any]:
    def ref(d: dict[str, Any] | None) -> dict[str, Any] | None:
        if d is None:
            return None
        return {
            "decision_id": d["decision_id"],
            "subject": d["subject"]["id"],
            "revision": d["revision"],
            "outcome": d["outcome"],
            "decided_at": d["decided_at"],
            "trigger": d.get("trigger"),
        }

    return {
        "model": model,
        "at": at,
        "champion": s.champion,
        "decision_id": s.since["decision_id"] if s.since else None,
        "since": ref(s.since),
        "challenger": s.challenger,
        "staged": ref(s.staged),
        "decisions_before": s.decisions,
    }


def _champion_text(r: dict[str, Any]) -> str:
    text = f"{r['model']} at {r['at']}: champion {r['champion'] or '(none)'}"
    if r["since"]:
        s = r["since"]
        text += f" (made champion by {s['subject']} rev {s['revision']} {s['outcome']}, decision {s['decision_id'][:19]}... at {s['decided_at']})"
    if r["challenger"]:
        st = r["staged"]
        text += f"; challenger {r['challenger']} (staged by decision {st['decision_id'][:19]}..., not crowned)"
    return text


def _why_line(why: dict[str, Any]) -> str:
    if "unknown" in why:
        return f"trained for: unknown ({why['unknown']})"

    def figure(c: dict[str, Any]) -> Any:
        seen = c["observed"]
        return seen.get("value", seen) if isinstance(seen, dict) else seen

    checks = "; ".join(f"{c['name']} {figure(c)}" for c in why["checks"])
    return (
        f"trained for: training decision {why['decision_id'][:19]}... "
        f"rev {why['revision']} ({checks})"
    )


def _history_line(d: dict[str, Any]) -> str:
    failed = [c["code"] for c in d["checks"] if not c["passed"]]
    champ = ""
    if d["subject"]["kind"] != "data_window":
        champ = f" champion {d.get('champion_before') or '-'} -> {d.get('champion_after') or '-'}"
    sup = f" supersedes {d['supersedes'][:19]}..." if d.get("supersedes") else ""
    conflict = " CONFLICTING COPY (replay says which is right)" if d.get("conflicting") else ""
    return (
        f"rev {d['revision']} {d['outcome']:8} {d['decision_id'][:19]}... at {d['decided_at']} "
        f"gate {d['gate']['name']} v{d['gate']['version']}{champ}{sup}"
        + (f" failed {failed}" if failed else "")
        + conflict
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
        lines.extend(
            f"    arrival {a['event_id']} from {a['source']} at [{a['partition']}]@{a['offset']} "
            f"{a['uri']} {a['checksum']} ({a['record_count']} records)"
            for a in w["arrivals"]
        )
    return "\n".join(lines)
