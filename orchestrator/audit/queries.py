"""The audit queries, over a trail of decisions: the decision history of a subject, the lineage
of a model version down to arrival events and their offsets, and which version was champion at
a given time. The trail is the audit index (`audit/store.py`) or, without one, the topics
themselves (`audit/scan.py`, which reads the topics at each query). Both hand the same records to
the same functions here, so they give the same answers.

Every answer follows the log, never the wall clock alone: a model's decisions stand in the
order of the `models.log` records that triggered them (one partition per model), and those of
one trigger in the order their champion changes chain (each one's `champion_before` is the
previous one's `champion_after`). "At T" is the state after the last decision, in that order,
decided at or before T: decisions decided in the same millisecond (one batch) are told apart
by the log. An order the records do not determine is refused (`AuditRefused`), never guessed.
Every answer says what it is as of: the offsets the trail had read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from orchestrator.core.digest import digest
from orchestrator.core.timeutil import parse_rfc3339_ms
from orchestrator.errors import AuditRefused, UnknownSubject

#: what a repeat of a decision may differ in (an at-least-once copy is decided again later)
_VOLATILE = ("decided_at", "orchestrator_version")


def content_digest(record: dict[str, Any]) -> str:
    """The digest of a decision without what a repeat may change (its decision time)."""
    return digest({k: v for k, v in record.items() if k not in _VOLATILE})


@dataclass(frozen=True)
class Recorded:
    """A decision as recorded, and where: its partition and offset on `audit.decisions`."""

    record: dict[str, Any]
    partition: int
    offset: int

    @property
    def decided_ms(self) -> int:
        return parse_rfc3339_ms(self.record["decided_at"])


class Trail(Protocol):
    def history(self, subject: str) -> list[Recorded]: ...

    def model_decisions(self, model: str) -> list[Recorded]: ...

    def update_at(self, partition: int, offset: int) -> dict[str, Any] | None: ...

    def manifests(self, window_id: str, revision: int) -> list[dict[str, Any]]: ...

    def as_of(self) -> dict[str, dict[int, int]]: ...


def distinct(records: Iterable[Recorded]) -> list[Recorded]:
    """Each decision once: copies of one decision id with the same content (at-least-once
    repeats, decided again later) are one, the earliest in the log; copies that differ in
    content are all kept (a forged or conflicting record is shown, not hidden)."""
    seen: dict[tuple[str, str], Recorded] = {}
    for r in sorted(records, key=lambda r: (r.decided_ms, r.partition, r.offset)):
        seen.setdefault((r.record["decision_id"], content_digest(r.record)), r)
    return list(seen.values())


def conflicting(records: list[Recorded]) -> set[tuple[str, int]]:
    """(subject, revision) recorded with more than one content."""
    by: dict[tuple[str, int], set[str]] = {}
    for r in records:
        key = (r.record["subject"]["id"], r.record["revision"])
        by.setdefault(key, set()).add(content_digest(r.record))
    return {k for k, contents in by.items() if len(contents) > 1}


# -- history ---------------------------------------------------------------------------------


def history(trail: Trail, subject: str) -> list[dict[str, Any]]:
    """Every decision of a subject, by revision; a revision recorded twice with different
    content is shown twice, each copy marked `conflicting`."""
    got = distinct(trail.history(subject))
    if not got:
        raise UnknownSubject(f"no decisions recorded for subject {subject!r}")
    bad = conflicting(got)
    out = []
    for r in sorted(got, key=lambda r: (r.record["revision"], r.decided_ms, r.partition, r.offset)):
        d = dict(r.record)
        if (d["subject"]["id"], d["revision"]) in bad:
            d["conflicting"] = True
        out.append(d)
    return out


# -- champion at a time ----------------------------------------------------------------------


def _trigger(r: Recorded) -> tuple[int, int]:
    t = r.record.get("trigger") or {}
    return (int(t.get("partition", -1)), int(t.get("offset", -1)))


def log_order(decisions: list[Recorded]) -> list[Recorded]:
    """A model's decisions in the order the model gate made them: by the `models.log` record
    that triggered each, and within one trigger by the chain of their champion changes (the
    decisions that change nothing keep their place on `audit.decisions`). Refused when a
    trigger's champion changes do not form one chain."""
    groups: dict[tuple[int, int], list[Recorded]] = {}
    for r in decisions:
        groups.setdefault(_trigger(r), []).append(r)
    out: list[Recorded] = []
    for trigger in sorted(groups):
        group = sorted(groups[trigger], key=lambda r: (r.decided_ms, r.partition, r.offset))
        steady = [
            r for r in group if r.record.get("champion_before") == r.record.get("champion_after")
        ]
        changes = [r for r in group if r not in steady]
        if len(changes) > 1:
            changes = _chain(changes, trigger)
        out += steady + changes
    return out


def _chain(changes: list[Recorded], trigger: tuple[int, int]) -> list[Recorded]:
    afters = {r.record.get("champion_after") for r in changes}
    heads = [r for r in changes if r.record.get("champion_before") not in afters]
    chain: list[Recorded] = []
    while heads and len(heads) == 1:
        chain.append(heads[0])
        after = heads[0].record.get("champion_after")
        heads = [r for r in changes if r not in chain and r.record.get("champion_before") == after]
    if len(chain) != len(changes):
        subjects = sorted(r.record["subject"]["id"] for r in changes)
        raise AuditRefused(
            f"the champion changes triggered by models.log partition {trigger[0]} offset "
            f"{trigger[1]} ({', '.join(subjects)}) do not chain: the log does not tell their order"
        )
    return chain


@dataclass
class ChampionState:
    """A model's champion and challenger after some decisions, and the decisions that made
    them (None: none)."""

    champion: str | None = None
    since: dict[str, Any] | None = None
    challenger: str | None = None
    staged: dict[str, Any] | None = None
    decisions: int = 0
    trail: list[dict[str, Any]] = field(default_factory=list)

    def apply(self, d: dict[str, Any]) -> None:
        self.decisions += 1
        version = (
            d["subject"]["id"].partition(":")[2]
            if d["subject"]["kind"] == "model_version"
            else None
        )
        before, after = d.get("champion_before"), d.get("champion_after")
        if before != after:
            self.champion, self.since = after, d
        staging = any(
            c["name"] == "rollout"
            and c["passed"]
            and (c.get("observed") or {}).get("stage") == "challenger"
            for c in d["checks"]
        )
        if staging and version is not None:
            self.challenger, self.staged = version, d
        elif (
            version is not None
            and version == self.challenger
            and (after == version or d["outcome"] in ("reject", "override", "rollback"))
        ):
            self.challenger, self.staged = None, None  # crowned, rejected or overridden


def champion_at(trail: Trail, model: str, at_ms: int) -> ChampionState:
    """The champion (and challenger) of `model` after the last of its decisions, in log
    order, decided at or before `at_ms`; named with the decisions that made them."""
    decisions = distinct(trail.model_decisions(model))
    if not decisions:
        raise UnknownSubject(f"no decisions recorded for model {model!r}")
    bad = conflicting(decisions)
    if bad:
        subject, revision = min(bad)
        raise AuditRefused(
            f"{subject} revision {revision} is recorded with two different contents: the "
            "champion cannot be told from this trail (`orchestrator replay` says which is right)"
        )
    ordered = log_order(decisions)
    last = max((i for i, r in enumerate(ordered) if r.decided_ms <= at_ms), default=-1)
    state = ChampionState()
    for r in ordered[: last + 1]:
        state.apply(r.record)
    return state


# -- lineage ---------------------------------------------------------------------------------


def lineage(trail: Trail, model: str, version: str) -> dict[str, Any]:
    """The version's decision, its model.update, and for every trained_on window the data
    decisions and the arrivals (event id, source, uri, checksum, partition, offset). A window
    revision whose manifest is missing from the trail, or recorded twice with different
    content, is refused."""
    decs = history(trail, f"{model}:{version}")
    latest = decs[-1]
    src = latest["inputs"]["offsets"][0]
    update = trail.update_at(src["partition"], src["offset"])
    if update is None:
        raise AuditRefused(
            f"the model.update of {model}:{version} ({src['topic']} partition "
            f"{src['partition']} offset {src['offset']}) is not in the trail"
        )
    trained_on: list[str] = list(update.get("trained_on", []))
    windows = []
    for w in trained_on:
        wdecs = distinct(trail.history(w))
        wdecs.sort(key=lambda r: (r.record["revision"], r.decided_ms))
        last = wdecs[-1].record if wdecs else None
        arrivals: list[dict[str, Any]] = []
        if last is not None:
            manifests = {
                orjson.dumps(m, option=orjson.OPT_SORT_KEYS): m
                for m in trail.manifests(w, last["revision"])
            }
            if len(manifests) != 1:
                what = "is not in the trail" if not manifests else "is recorded with two contents"
                raise AuditRefused(f"the manifest of {w} revision {last['revision']} {what}")
            arrivals = next(iter(manifests.values()))["arrivals"]
        windows.append(
            {
                "window_id": w,
                "decisions": [
                    {
                        "revision": r.record["revision"],
                        "outcome": r.record["outcome"],
                        "decision_id": r.record["decision_id"],
                    }
                    for r in wdecs
                ],
                "arrivals": arrivals,
            }
        )
    return {
        "subject": f"{model}:{version}",
        "outcome": latest["outcome"],
        "decision_id": latest["decision_id"],
        "update": {
            "event_id": update.get("event_id"),
            "artifact_uri": update.get("artifact_uri"),
            "source": src,
        },
        "windows": windows,
    }


#: the model.update params a trainer sets to say which training request it answers (the
#: example trainer does; README "Retraining triggers")
TRAINING_DECISION_PARAM = "retrain_decision"


def trained_for(trail: Trail, decisions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Why a model version was trained: the training decision its model.update names (None:
    the update names none, it was not trained on a request). When the update or that decision
    is not in the trail (retention), `{"unknown": why}`: the history itself stays right."""
    latest = decisions[-1]
    if latest["subject"]["kind"] != "model_version" or not latest["inputs"]["offsets"]:
        return None
    src = latest["inputs"]["offsets"][0]
    update = trail.update_at(src["partition"], src["offset"])
    if update is None:
        return {
            "unknown": f"the model.update of {latest['subject']['id']} ({src['topic']} "
            f"partition {src['partition']} offset {src['offset']}) is not in the trail"
        }
    wanted = (update.get("params") or {}).get(TRAINING_DECISION_PARAM)
    if not isinstance(wanted, str):
        return None
    model = latest.get("model") or latest["subject"]["id"].partition(":")[0]
    found = [r.record for r in distinct(trail.history(model)) if r.record["decision_id"] == wanted]
    if not found:
        return {"unknown": f"training decision {wanted} is not in the trail"}
    d = found[0]
    return {
        "decision_id": d["decision_id"],
        "revision": d["revision"],
        "decided_at": d["decided_at"],
        "checks": d["checks"],
    }
