"""Checking `models.log` against the records it was built from. Every entry must come from a
`models.updates` or `commands` record (through the router) or from a data decision (through
the fan-out): none missing, none extra, each byte for byte what the same input gives, and, per
model and per source partition, in the order of the source (the only order the router and the
event-time agent can produce). Repeats of an entry are counted, not failed: a producer retry or
a restart under at-least-once writes some entries twice, and the model gate ignores them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from orchestrator.kafka.read import TimedRecord
from orchestrator.replay.derive import LogEntry

#: (model, kind, source topic, source partition, source offset, decision id or "")
Identity = tuple[str, str, str, int, int, str]


@dataclass
class LogCheck:
    """The outcome: problems as report subjects (kind `model_log`), and counts."""

    subjects: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _identity(key: bytes | None, value: bytes | None) -> tuple[Identity, Any] | None:
    try:
        entry = orjson.loads(value or b"")
        src = entry["source"]
        kind = entry["kind"]
        ident = (
            (key or b"").decode("utf-8", "replace"),
            kind,
            src["topic"],
            int(src["partition"]),
            int(src["offset"]),
            entry.get("decision_id", "") if kind == "data" else "",
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None
    return ident, entry


def _name(ident: Identity) -> str:
    model, kind, topic, partition, offset, decision = ident
    at = f"{topic}:{partition}@{offset}"
    return f"models.log/{model}/{kind}/{at}" + (f"/{decision}" if decision else "")


def check_log(
    expected: list[LogEntry], actual: dict[int, list[TimedRecord]], log_topic: str
) -> LogCheck:
    out = LogCheck()
    want: dict[Identity, Any] = {}
    for e in expected:
        parsed = _identity(e.key, e.value)
        if parsed is not None:
            want.setdefault(parsed[0], parsed[1])
    got: dict[Identity, Any] = {}
    duplicates = out_of_order = unreadable = entries = 0
    for partition, records in sorted(actual.items()):
        last: dict[tuple[str, str, int], int] = {}
        for offset, key, value, _ in records:
            entries += 1
            parsed = _identity(key, value)
            if parsed is None:
                unreadable += 1
                out.subjects.append(
                    {
                        "subject": f"models.log/{log_topic}:{partition}@{offset}",
                        "kind": "model_log",
                        "status": "extra",
                        "diff": {"entry": {"recorded": "not a models.log entry", "replayed": None}},
                    }
                )
                continue
            ident, entry = parsed
            if ident in got:
                duplicates += 1
                if got[ident] != entry:
                    out.subjects.append(_mismatch(ident, got[ident], entry, "repeated entry"))
                continue
            got[ident] = entry
            source = (ident[0], ident[2], ident[3])
            if ident[4] < last.get(source, -1):
                out_of_order += 1
                out.subjects.append(
                    {
                        "subject": _name(ident),
                        "kind": "model_log",
                        "status": "mismatch",
                        "diff": {
                            "order": {
                                "recorded": f"after {source[1]}:{source[2]}@{last[source]}",
                                "replayed": "in source order",
                            }
                        },
                    }
                )
            last[source] = max(last.get(source, -1), ident[4])
    status = {"match": 0, "missing": 0, "extra": 0, "mismatch": 0}
    for ident in sorted(set(want) | set(got)):
        w, g = want.get(ident), got.get(ident)
        if g is None:
            status["missing"] += 1
            out.subjects.append({"subject": _name(ident), "kind": "model_log", "status": "missing"})
        elif w is None:
            status["extra"] += 1
            out.subjects.append({"subject": _name(ident), "kind": "model_log", "status": "extra"})
        elif w != g:
            status["mismatch"] += 1
            out.subjects.append(_mismatch(ident, g, w, None))
        else:
            status["match"] += 1
    out.counts = {
        "entries": entries,
        **status,
        "extra": status["extra"] + unreadable,
        "out_of_order": out_of_order,
        "duplicates": duplicates,
    }
    return out


def _mismatch(ident: Identity, recorded: Any, replayed: Any, what: str | None) -> dict[str, Any]:
    diff = {
        k: {"recorded": recorded.get(k), "replayed": replayed.get(k)}
        for k in sorted(set(recorded) | set(replayed))
        if recorded.get(k) != replayed.get(k)
    }
    if what:
        diff = {what: {"recorded": recorded, "replayed": replayed}}
    return {"subject": _name(ident), "kind": "model_log", "status": "mismatch", "diff": diff}
