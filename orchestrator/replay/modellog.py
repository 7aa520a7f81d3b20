"""Checking `models.log` against the records it was built from. Every entry must come from a
`models.updates` or `commands` record (through the router) or from a data decision (through
the fan-out): none missing, none extra, each byte for byte what the same input gives, and, per
model and per source partition, in the order of the source (the only order the router and the
event-time agent can produce). Repeats of an entry are counted, not failed: a producer retry or
a restart under at-least-once writes some entries twice, and the model gate ignores them.

The log is seen a chunk at a time (`LogCheck.see`); the expected entries and one digest per
entry seen are kept in the ledger, on disk."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.core.digest import digest
from orchestrator.kafka.read import TimedRecord
from orchestrator.replay.compare import _diff
from orchestrator.replay.ledger import IDENT, MODEL_LOG, Identity, Ledger, LogEntry, identity


def _name(ident: Identity) -> str:
    model, kind, topic, partition, offset, decision = ident
    at = f"{topic}:{partition}@{offset}"
    return f"models.log/{model}/{kind}/{at}" + (f"/{decision}" if decision else "")


@dataclass
class LogCheck:
    """Feed the ledger the expected entries (`Ledger.expect`), then the log partition by
    partition (`see`), then read `result()`: the counts; the problems are noted in the ledger
    as report subjects (kind `model_log`)."""

    log_topic: str
    ledger: Ledger
    #: False (record_time=producer): an entry's `timestamp` is the worker's clock when the
    #: router read it, which nothing can derive again; it is left out of the comparison
    timestamps: bool = True
    entries: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    unreadable: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    _last: dict[tuple[int, str, str, int], int] = field(default_factory=dict)

    def see(self, partition: int, records: list[TimedRecord]) -> None:
        with self.ledger.batch() as conn:
            for offset, key, value, *_ in records:
                self._see(conn, partition, offset, key, value)

    def _see(
        self, conn: Any, partition: int, offset: int, key: bytes | None, value: bytes | None
    ) -> None:
        self.entries += 1
        parsed = identity(key, value)
        if parsed is None:
            self.unreadable += 1
            self.ledger.note(
                MODEL_LOG,
                {
                    "subject": f"models.log/{self.log_topic}:{partition}@{offset}",
                    "kind": "model_log",
                    "status": "extra",
                    "diff": {"entry": {"recorded": "not a models.log entry", "replayed": None}},
                },
            )
            return
        ident, entry = parsed
        if not self.timestamps and isinstance(entry, dict):
            entry.pop("timestamp", None)
        content = digest(entry)
        seen = conn.execute(f"SELECT digest FROM got WHERE {IDENT}", ident).fetchone()
        if seen is not None:
            self.duplicates += 1
            if seen[0] != content:
                w = self.ledger.wanted(ident)
                expected = w[1] if w is not None else None
                self.ledger.note(MODEL_LOG, _mismatch(ident, entry, expected, "repeat"))
            return
        conn.execute("INSERT INTO got VALUES (?, ?, ?, ?, ?, ?, ?)", (*ident, content))
        source = (partition, ident[0], ident[2], ident[3])
        last = self._last.get(source, -1)
        if ident[4] < last:
            self.out_of_order += 1
            self.ledger.note(
                MODEL_LOG,
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
                },
            )
        self._last[source] = max(last, ident[4])
        w = self.ledger.wanted(ident)
        if w is not None and w[0] != content:
            self.ledger.note(MODEL_LOG, _mismatch(ident, entry, w[1], None))

    def result(self) -> dict[str, int]:
        """The counts (and every entry missing from the log or extra in it noted)."""
        conn = self.ledger.conn
        key = 'model, kind, topic, partition, "offset", decision'
        join = (
            "a.model = b.model AND a.kind = b.kind AND a.topic = b.topic AND "
            'a.partition = b.partition AND a."offset" = b."offset" AND a.decision = b.decision'
        )
        status = {"match": 0, "missing": 0, "extra": self.unreadable, "mismatch": 0}
        for what, table, other in (("missing", "want", "got"), ("extra", "got", "want")):
            cur = conn.execute(
                f"SELECT {key} FROM {table} a WHERE NOT EXISTS "
                f"(SELECT 1 FROM {other} b WHERE {join}) ORDER BY {key}"
            )
            while rows := cur.fetchmany(1000):
                with self.ledger.batch():
                    for row in rows:
                        status[what] += 1
                        self.ledger.note(
                            MODEL_LOG,
                            {"subject": _name(row), "kind": "model_log", "status": what},
                        )
        for same, n in conn.execute(
            f"SELECT a.digest = b.digest, count(*) FROM want a JOIN got b ON {join} GROUP BY 1"
        ):
            status["match" if same else "mismatch"] += n
        self.counts = {
            "entries": self.entries,
            **status,
            "out_of_order": self.out_of_order,
            "duplicates": self.duplicates,
        }
        return self.counts

    @property
    def subjects(self) -> list[dict[str, Any]]:
        """The problems noted (what `result()` reports as subjects of kind `model_log`)."""
        return [s for s in self.ledger.subjects() if s["kind"] == "model_log"]


def check_log(
    expected: list[LogEntry], actual: dict[int, list[TimedRecord]], log_topic: str
) -> LogCheck:
    """The whole check over entries in memory (what `replay` does chunk by chunk)."""
    check = LogCheck(log_topic, Ledger())
    check.ledger.expect(expected)
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
