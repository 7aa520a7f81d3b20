"""The audit trail read from the topics at each query (`audit ... --scan`, or without an
index): each partition read to its end. Time and memory grow with the log; the index's do not."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from orchestrator.audit.queries import Recorded, distinct
from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.roles import Role
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.read import partitions_of, read_range, read_timed


class ScanTrail:
    """The trail read from the topics at each query, each partition to its end (time and
    memory grow with the log; the index does not)."""

    def __init__(self, conn: Connection, catalog: Catalog) -> None:
        self.conn, self.catalog = conn, catalog
        self._read: dict[str, dict[int, int]] = {}
        self.decisions = self._records("audit")
        self._manifests: list[tuple[int, dict[str, Any]]] | None = None

    def _records(self, role: Role) -> list[tuple[int, int, dict[str, Any]]]:
        topic = self.catalog.name(role)

        async def go() -> list[tuple[int, int, dict[str, Any]]]:
            out = []
            ends: dict[int, int] = {}
            for p in await partitions_of(self.conn, topic):
                records = await read_timed(self.conn, topic, p, 0, None)
                ends[p] = records[-1].offset + 1 if records else 0
                for r in records:
                    if r.value:
                        try:
                            out.append((p, r.offset, orjson.loads(r.value)))
                        except orjson.JSONDecodeError:
                            continue
            self._read[topic] = ends
            return out

        return asyncio.run(go())

    def _decisions(self, keep: Any) -> list[Recorded]:
        out = []
        for p, o, d in self.decisions:
            try:
                if keep(d):
                    out.append(Recorded(d, p, o))
            except (KeyError, TypeError, AttributeError):
                continue  # not a decision
        return out

    def all_decisions(self) -> list[dict[str, Any]]:
        """Every decision once (repeats left out), by subject, revision and decision time."""
        got = distinct(self._decisions(lambda d: bool(d["decision_id"] and d["subject"]["id"])))
        got.sort(key=lambda r: (r.record["subject"]["id"], r.record["revision"], r.decided_ms))
        return [r.record for r in got]

    def history(self, subject: str) -> list[Recorded]:
        return self._decisions(lambda d: d["subject"]["id"] == subject)

    def model_decisions(self, model: str) -> list[Recorded]:
        return self._decisions(
            lambda d: d.get("model") == model and d["subject"]["kind"] != "data_window"
        )

    def update_at(self, partition: int, offset: int) -> dict[str, Any] | None:
        topic = self.catalog.name("model_updates")
        records = asyncio.run(read_range(self.conn, topic, partition, offset, offset + 1))
        value = records[0][2] if records else None
        try:
            return orjson.loads(value) if value else None
        except orjson.JSONDecodeError:
            return None

    def manifests(self, window_id: str, revision: int) -> list[dict[str, Any]]:
        if self._manifests is None:
            self._manifests = [
                (p, m) for p, _, m in self._records("windows") if isinstance(m, dict)
            ]
        return [
            m
            for _, m in self._manifests
            if m.get("window_id") == window_id and m.get("revision") == revision
        ]

    def as_of(self) -> dict[str, dict[int, int]]:
        return dict(self._read)
