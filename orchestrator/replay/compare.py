"""Comparing derived decisions with recorded ones: every revision of every subject (data
window, model version, command), field by field. Recorded decisions stream past (`record`);
what is kept is the derived decisions and, per recorded revision, its decision id."""

from __future__ import annotations

from typing import Any

import orjson

#: Left out of the comparison: wall clock, and the code version that wrote the record.
IGNORED_FIELDS = ("decided_at", "orchestrator_version")

Key = tuple[str, int]  # (subject id, revision)


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
    missing (derived, never recorded) or extra (recorded, not derived). Two recorded decisions
    of one revision that disagree are a mismatch too. Both sides are decisions in wire form."""

    def __init__(self, derived: list[bytes]) -> None:
        #: (subject, revision) -> (kind, the decision's wire form: parsed only to compare)
        self.derived: dict[Key, tuple[str, bytes]] = {}
        for wire in derived:
            d = orjson.loads(wire)
            self.derived[(d["subject"]["id"], d["revision"])] = (d["subject"]["kind"], wire)
        self.recorded: dict[Key, tuple[str, str]] = {}  # -> (decision id, outcome)
        self.found: dict[Key, dict[str, Any]] = {}
        self.conflicts: list[dict[str, Any]] = []

    def record(self, rec: dict[str, Any]) -> None:
        key = (rec["subject"]["id"], rec["revision"])
        previous = self.recorded.get(key)
        if previous is not None:
            if previous[0] != rec["decision_id"]:
                self.conflicts.append(
                    {
                        "subject": key[0],
                        "kind": rec["subject"]["kind"],
                        "revision": key[1],
                        "status": "mismatch",
                        "diff": {"conflict": [previous[1], rec["outcome"]]},
                    }
                )
            return
        self.recorded[key] = (rec["decision_id"], rec["outcome"])
        entry: dict[str, Any] = {
            "subject": key[0],
            "kind": rec["subject"]["kind"],
            "revision": key[1],
        }
        found = self.derived.get(key)
        if found is None:
            entry["status"] = "extra"
        else:
            diff = _diff(_plain(rec), _plain(orjson.loads(found[1])))
            entry["status"] = "mismatch" if diff else "match"
            if diff:
                entry["diff"] = diff
        self.found[key] = entry

    def subjects(self) -> list[dict[str, Any]]:
        out = dict(self.found)
        for key, (kind, _) in self.derived.items():
            if key not in out:
                out[key] = {
                    "subject": key[0],
                    "kind": kind,
                    "revision": key[1],
                    "status": "missing",
                }
        return self.conflicts + [out[k] for k in sorted(out)]


def compare(derived: list[dict[str, Any]], recorded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The whole comparison over decisions in memory (what `replay` does as records stream)."""
    comparison = Comparison([orjson.dumps(d) for d in derived])
    for rec in recorded:
        comparison.record(rec)
    return comparison.subjects()
