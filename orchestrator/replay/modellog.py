"""Checking `models.log` against the records it was built from. Every entry must come from a
`models.updates` or `commands` record (through the router) or from a data decision (through
the fan-out): none missing, none extra, each byte for byte what the same input gives, and, per
model and per source partition, in the order of the source (the only order the router and the
event-time agent can produce). Repeats of an entry are counted, not failed: a producer retry or
a restart under at-least-once writes some entries twice, and the model gate ignores them.

The log is seen a chunk at a time (`LogCheck.see`); what is kept is the expected entries (as
many as model inputs and data decisions, not arrivals) and one digest per entry seen."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from orchestrator.core.digest import digest
from orchestrator.kafka.read import TimedRecord
from orchestrator.replay.compare import _diff
from orchestrator.replay.derive import LogEntry

#: (model, kind, source topic, source partition, source offset, decision id or "")
Identity = tuple[str, str, str, int, int, str]


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


@dataclass
class LogCheck:
    """Feed it the expected entries, then the log partition by partition (`see`), then read
    `result()`: problems as report subjects (kind `model_log`), and counts."""

    log_topic: str
    want: dict[Identity, tuple[str, Any]] = field(default_factory=dict)
    got: dict[Identity, str] = field(default_factory=dict)
    subjects: list[dict[str, Any]] = field(default_factory=list)
    entries: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    unreadable: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    _last: dict[tuple[int, str, str, int], int] = field(default_factory=dict)

    def expect(self, entries: list[LogEntry]) -> None:
        for e in entries:
            parsed = _identity(e.key, e.value)
            if parsed is not None and parsed[0] not in self.want:
                self.want[parsed[0]] = (digest(parsed[1]), parsed[1])

    def see(self, partition: int, records: list[TimedRecord]) -> None:
        for offset, key, value, _ in records:
            self.entries += 1
            parsed = _identity(key, value)
            if parsed is None:
                self.unreadable += 1
                self.subjects.append(
                    {
                        "subject": f"models.log/{self.log_topic}:{partition}@{offset}",
                        "kind": "model_log",
                        "status": "extra",
                        "diff": {"entry": {"recorded": "not a models.log entry", "replayed": None}},
                    }
                )
                continue
            ident, entry = parsed
            content = digest(entry)
            if ident in self.got:
                self.duplicates += 1
                if self.got[ident] != content:
                    w = self.want.get(ident)
                    expected = w[1] if w is not None else None
                    self.subjects.append(_mismatch(ident, entry, expected, "repeat"))
                continue
            self.got[ident] = content
            source = (partition, ident[0], ident[2], ident[3])
            last = self._last.get(source, -1)
            if ident[4] < last:
                self.out_of_order += 1
                self.subjects.append(
                    {
                        "subject": _name(ident),
                        "kind": "model_log",
                        "status": "mismatch",
                        "diff": {
                            "order": {
                                "recorded": f"after {ident[2]}:{ident[3]}@{last}",
                                "replayed": "in source order",
                            }
                        },
                    }
                )
            self._last[source] = max(last, ident[4])
            w = self.want.get(ident)
            if w is not None and w[0] != content:
                self.subjects.append(_mismatch(ident, entry, w[1], None))

    def result(self) -> tuple[list[dict[str, Any]], dict[str, int]]:
        status = {"match": 0, "missing": 0, "extra": self.unreadable, "mismatch": 0}
        for ident in sorted(set(self.want) | set(self.got)):
            w, g = self.want.get(ident), self.got.get(ident)
            if g is None:
                status["missing"] += 1
                self.subjects.append(
                    {"subject": _name(ident), "kind": "model_log", "status": "missing"}
                )
            elif w is None:
                status["extra"] += 1
                self.subjects.append(
                    {"subject": _name(ident), "kind": "model_log", "status": "extra"}
                )
            elif w[0] != g:
                status["mismatch"] += 1
            else:
                status["match"] += 1
        self.counts = {
            "entries": self.entries,
            **status,
            "out_of_order": self.out_of_order,
            "duplicates": self.duplicates,
        }
        return self.subjects, self.counts


def check_log(
    expected: list[LogEntry], actual: dict[int, list[TimedRecord]], log_topic: str
) -> LogCheck:
    """The whole check over entries in memory (what `replay` does chunk by chunk)."""
    check = LogCheck(log_topic)
    check.expect(expected)
    for partition, records in sorted(actual.items()):
        check.see(partition, records)
    check.result()
    return check


def _mismatch(ident: Identity, recorded: Any, replayed: Any, what: str | None) -> dict[str, Any]:
    if what:
        diff = {what: {"recorded": recorded, "replayed": replayed}}
    else:
        diff = _diff(recorded, replayed or {})
    return {"subject": _name(ident), "kind": "model_log", "status": "mismatch", "diff": diff}
