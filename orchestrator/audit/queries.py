"""The audit queries, over a trail of decisions: the decision history of a subject, the lineage
of a model version down to arrival events and their offsets, and which version was champion at
a given time. The trail is the audit index (`AuditIndex`) or, without one, the topics
themselves (`ScanTrail`, which reads the whole audit topic)."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import orjson

from orchestrator.catalog.topics import Catalog
from orchestrator.core.timeutil import parse_rfc3339_ms
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.read import read_range, read_topic


class UnknownSubject(LookupError):
    pass


class Trail(Protocol):
    def history(self, subject: str) -> list[dict[str, Any]]: ...

    def model_decisions(self, model: str) -> list[dict[str, Any]]: ...

    def update_at(self, partition: int, offset: int) -> dict[str, Any] | None: ...

    def manifest(self, window_id: str, revision: int) -> dict[str, Any] | None: ...


def load_decisions(conn: Connection, catalog: Catalog) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for _, (_, _, value) in asyncio.run(read_topic(conn, catalog.name("audit"))):
        if value:
            d = orjson.loads(value)
            seen.setdefault(d["decision_id"], d)
    return sorted(seen.values(), key=lambda d: (d["subject"]["id"], d["revision"], d["decided_at"]))


class ScanTrail:
    """The trail read from the topics at each query (time and memory grow with the log)."""

    def __init__(self, conn: Connection, catalog: Catalog) -> None:
        self.conn, self.catalog = conn, catalog
        self.decisions = load_decisions(conn, catalog)
        self._manifests: dict[tuple[str, int], dict[str, Any]] | None = None

    def history(self, subject: str) -> list[dict[str, Any]]:
        return [d for d in self.decisions if d["subject"]["id"] == subject]

    def model_decisions(self, model: str) -> list[dict[str, Any]]:
        out = [
            d
            for d in self.decisions
            if d.get("model") == model and d["subject"]["kind"] != "data_window"
        ]
        return sorted(out, key=lambda d: parse_rfc3339_ms(d["decided_at"]))

    def update_at(self, partition: int, offset: int) -> dict[str, Any] | None:
        topic = self.catalog.name("model_updates")
        records = asyncio.run(read_range(self.conn, topic, partition, offset, offset + 1))
        value = records[0][2] if records else None
        return orjson.loads(value) if value else None

    def manifest(self, window_id: str, revision: int) -> dict[str, Any] | None:
        if self._manifests is None:
            self._manifests = {}
            for _, (_, _, value) in asyncio.run(
                read_topic(self.conn, self.catalog.name("windows"))
            ):
                if value:
                    m = orjson.loads(value)
                    self._manifests[(m["window_id"], m["revision"])] = m
        return self._manifests.get((window_id, revision))


def history(trail: Trail, subject: str) -> list[dict[str, Any]]:
    out = trail.history(subject)
    if not out:
        raise UnknownSubject(f"no decisions recorded for subject {subject!r}")
    return out


def champion_at(trail: Trail, model: str, at_ms: int) -> dict[str, Any] | None:
    """The last decision about `model` at or before `at` that set its champion (or None)."""
    relevant = trail.model_decisions(model)
    if not relevant:
        raise UnknownSubject(f"no decisions recorded for model {model!r}")
    before = [d for d in relevant if parse_rfc3339_ms(d["decided_at"]) <= at_ms]
    return before[-1] if before else None


def lineage(trail: Trail, model: str, version: str) -> dict[str, Any]:
    """The version's decision, its model.update, and for every trained_on window the data
    decisions and the arrivals (event id, source, uri, checksum, partition, offset)."""
    decs = history(trail, f"{model}:{version}")
    latest = decs[-1]
    src = latest["inputs"]["offsets"][0]
    update = trail.update_at(src["partition"], src["offset"])
    trained_on: list[str] = list((update or {}).get("trained_on", []))
    windows = []
    for w in trained_on:
        wdecs = trail.history(w)
        last = wdecs[-1] if wdecs else None
        manifest = trail.manifest(w, last["revision"]) if last else None
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
            "event_id": update.get("event_id"),
            "artifact_uri": update.get("artifact_uri"),
            "source": src,
        }
        if update
        else None,
        "windows": windows,
    }
