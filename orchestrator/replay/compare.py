"""Comparing derived decisions with recorded ones: every revision of every subject (data
window, model version, command), field by field. The derived decisions are in the ledger
(written by derivation); recorded decisions stream past (`record`), each looked up there and
its result noted there, so nothing grows in memory with the log."""

from __future__ import annotations

from typing import Any

import orjson

from orchestrator.core.digest import digest
from orchestrator.replay.ledger import COMPARED, CONFLICTS, Ledger

#: Left out of the comparison: wall clock, and the code version that wrote the record.
IGNORED_FIELDS = ("decided_at", "orchestrator_version")


def _plain(decision: dict[str, Any]) -> dict[str, Any]:
    d = dict(decision)
    for f in IGNORED_FIELDS:
        d.pop(f, None)
    return d


def _diff(recorded: dict[str, Any], replayed: dict[str, Any]) -> dict[str, Any]:
    return {
        k: {"recorded": recorded.get(k), "replayed": replayed.get(k)}
        for k in sorted(set(recorded) | set(replayed))
        if recorded.get(k) != replayed.get(k)
    }


class Comparison:
    """One entry per (subject, revision): match, mismatch (with the fields that differ),
    missing (derived, never recorded) or extra (recorded, not derived). Every recorded copy is
    compared, whatever its decision id: a second copy of a revision that differs from the
    derivation (a forged record reusing a genuine decision id, or a conflicting one under a new
    id) is a mismatch too; an identical copy (an at-least-once repeat) is not. Call `record`
    for every recorded decision (inside `ledger.batch()` for speed), then `finish` once."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def record(self, rec: dict[str, Any]) -> None:
        key = (rec["subject"]["id"], rec["revision"])
        conn = self.ledger.conn
        plain = _plain(rec)
        content = digest(plain)
        previous = conn.execute(
            "SELECT decision_id, outcome, digest FROM recorded WHERE subject = ? AND revision = ?",
            key,
        ).fetchone()
        if previous is not None:
            if previous[2] == content:
                return  # the same record again (a repeat under at-least-once)
            found = self.ledger.derived(*key)
            diff = _diff(plain, _plain(orjson.loads(found))) if found is not None else {}
            if previous[0] != rec["decision_id"] or not diff:
                diff = {"conflict": [previous[1], rec["outcome"]], **diff}
            self.ledger.note(
                CONFLICTS,
                {
                    "subject": key[0],
                    "kind": rec["subject"]["kind"],
                    "revision": key[1],
                    "status": "mismatch",
                    "diff": diff,
                },
            )
            return
        conn.execute(
            "INSERT INTO recorded VALUES (?, ?, ?, ?, ?)",
            (*key, rec["decision_id"], rec["outcome"], content),
        )
        entry: dict[str, Any] = {
            "subject": key[0],
            "kind": rec["subject"]["kind"],
            "revision": key[1],
        }
        found = self.ledger.derived(*key)
        if found is None:
            entry["status"] = "extra"
        else:
            diff = _diff(_plain(rec), _plain(orjson.loads(found)))
            entry["status"] = "mismatch" if diff else "match"
            if diff:
                entry["diff"] = diff
        self.ledger.note(COMPARED, entry)

    def finish(self) -> None:
        """Every derived revision never recorded is missing."""
        with self.ledger.batch() as conn:
            conn.execute(
                "INSERT INTO subjects SELECT ?, d.subject, d.revision, 'missing', json_object("
                "'subject', d.subject, 'kind', d.kind, 'revision', d.revision, "
                "'status', 'missing') FROM derived d WHERE NOT EXISTS (SELECT 1 FROM recorded r "
                "WHERE r.subject = d.subject AND r.revision = d.revision)",
                (COMPARED,),
            )


def compare(derived: list[dict[str, Any]], recorded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The whole comparison over decisions in memory (what `replay` does as records stream)."""
    ledger = Ledger()
    try:
        ledger.add_derived(orjson.dumps(d) for d in derived)
        comparison = Comparison(ledger)
        with ledger.batch():
            for rec in recorded:
                comparison.record(rec)
        comparison.finish()
        return list(ledger.subjects())
    finally:
        ledger.close()
