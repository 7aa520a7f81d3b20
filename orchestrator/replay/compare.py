"""Comparing derived decisions with recorded ones: every revision of every subject (data
window, model version, command), field by field."""

from __future__ import annotations

from typing import Any

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


def compare(derived: list[dict[str, Any]], recorded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (subject, revision): match, mismatch (with the fields that differ),
    missing (derived, never recorded) or extra (recorded, not derived). Two recorded decisions
    of one revision that disagree are a mismatch too. Both sides are decisions in wire form."""
    subjects: list[dict[str, Any]] = []
    rec_exact: dict[tuple[str, int], dict[str, Any]] = {}
    for rec in recorded:
        sid, kind = rec["subject"]["id"], rec["subject"]["kind"]
        previous = rec_exact.get((sid, rec["revision"]))
        if previous is not None and previous["decision_id"] != rec["decision_id"]:
            subjects.append(
                {
                    "subject": sid,
                    "kind": kind,
                    "revision": rec["revision"],
                    "status": "mismatch",
                    "diff": {"conflict": [previous["outcome"], rec["outcome"]]},
                }
            )
        rec_exact[(sid, rec["revision"])] = rec
    der_exact = {(dec["subject"]["id"], dec["revision"]): dec for dec in derived}
    for key in sorted(set(der_exact) | set(rec_exact)):
        d, r = der_exact.get(key), rec_exact.get(key)
        kind = (d or r or {"subject": {"kind": ""}})["subject"]["kind"]
        entry: dict[str, Any] = {"subject": key[0], "kind": kind, "revision": key[1]}
        if r is None:
            entry["status"] = "missing"
        elif d is None:
            entry["status"] = "extra"
        else:
            diff = _diff(_plain(r), _plain(d))
            entry["status"] = "mismatch" if diff else "match"
            if diff:
                entry["diff"] = diff
        subjects.append(entry)
    return subjects
