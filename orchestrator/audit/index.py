"""Building the audit index (`audit/store.py`, a SQLite file of decisions, window manifests and
model updates) incrementally from the topics (`orchestrator audit index`). Auditors can query it
with SQL directly (`audit sql`, or any SQLite client) and export it as Parquet (`audit export`).

Each topic partition's next offset is stored with the rows, in the same transaction, one
transaction per chunk read: a crash loses at most the chunk in flight, and the next run goes on
from the stored positions. `--rebuild` starts from an empty file. Rows are keyed by where their
record sits (partition, offset), so reading a record twice changes nothing and every recorded
copy is kept (a forged copy of a decision is shown, not hidden behind the genuine one).

Complete or refused: every partition is read to its true end (an end offset the broker
reports may lag its last records, so reading goes on until a fetch brings nothing and the end
asked again is no further). The index records the cluster it was built from and, per
partition, the digest of the last record it read; before it reads more (or answers after
reading more) it checks both, and a partition that no longer holds that record (a new broker,
a recreated topic, a truncated log) makes it stale: `audit index` rebuilds it, a query refuses
with the command to run. Every answer says the offsets it is as of.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka.protocol.metadata import MetadataRequest

from orchestrator.audit.store import COLUMNS, TABLES, IndexStale, IndexStore
from orchestrator.catalog.topics import Catalog
from orchestrator.core.timeutil import parse_rfc3339_ms
from orchestrator.errors import ConfigError
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.read import TimedRecord, partitions_of, read_timed, stream_timed

__all__ = ["AuditIndex", "IndexStale", "IndexStats", "cluster_id", "record_digest"]


@dataclass(frozen=True)
class IndexStats:
    records: int
    rows: int
    seconds: float


async def cluster_id(conn: Connection) -> str:
    """The cluster's id from a metadata request ('' if the broker gives none). Apache Kafka
    gives each cluster its own; the embedded broker always says the same (its restarts are
    told by the records, see `AuditIndex.check`)."""
    client = conn.client(client_id="orchestrator-audit")
    await client.bootstrap()
    try:
        response = await client.send(client.get_random_node(), MetadataRequest([]))
        return str(getattr(response, "cluster_id", "") or "")
    finally:
        await client.close()


def record_digest(key: bytes | None, value: bytes | None) -> str:
    """What identifies a record at an offset: its key and value."""
    h = hashlib.sha256()
    for part in (key, value):
        h.update(b"-" if part is None else b"%d:" % len(part) + part)
    return h.hexdigest()


class AuditIndex(IndexStore):
    """The index of one topic catalog, built and brought up to date from its topics."""

    def __init__(self, path: Path, catalog: Catalog, *, read_only: bool = False) -> None:
        self.catalog = catalog
        super().__init__(path, {r: catalog.name(r) for r in TABLES}, read_only=read_only)

    @classmethod
    def rebuild(cls, path: Path, catalog: Catalog) -> AuditIndex:
        """An empty index in place of whatever was at `path`."""
        for p in (path, *(path.with_name(path.name + x) for x in ("-wal", "-shm", "-journal"))):
            p.unlink(missing_ok=True)
        return cls(path, catalog)

    def update(self, conn: Connection, *, chunk: int = 1000) -> IndexStats:
        """Check that the topics still hold what was indexed (IndexStale if not), then read
        every partition of the indexed topics from its stored position to its true end."""
        return asyncio.run(self._update(conn, chunk))

    async def check(self, conn: Connection) -> str | None:
        """Why the index no longer matches the topics (None: it does): another cluster, a
        partition gone or shorter than what was read, or another record at the last offset
        read (a new broker, a recreated topic)."""
        cluster = await cluster_id(conn)
        stored = self.meta("cluster")
        if stored is not None and stored != cluster:
            return f"it was built from cluster {stored!r}, the broker is cluster {cluster!r}"
        rows = self.db.execute(
            'SELECT topic, "partition", next_offset, last_digest FROM positions ORDER BY 1, 2'
        ).fetchall()
        parts: dict[str, list[int]] = {}
        for topic, partition, next_offset, last in rows:
            if next_offset <= 0:
                continue
            if topic not in parts:
                parts[topic] = await partitions_of(conn, topic)
            if partition not in parts[topic]:
                return f"{topic} partition {partition} is gone"
            got = await _read_one(conn, topic, partition, next_offset - 1)
            if not got or got[0].offset != next_offset - 1:
                return f"{topic} partition {partition} no longer holds offset {next_offset - 1}"
            if record_digest(got[0].key, got[0].value) != last:
                return (
                    f"{topic} partition {partition} holds another record at offset "
                    f"{next_offset - 1}"
                )
        return None

    async def _update(self, conn: Connection, chunk: int) -> IndexStats:
        started = time.perf_counter()
        changed = await self.check(conn)
        if changed is not None:
            raise IndexStale(
                f"the audit index {self.path} no longer matches the topics: {changed}; "
                "rebuild it with `orchestrator audit index --rebuild`"
            )
        if self.meta("cluster") is None:
            with self.db:
                self.db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('cluster', ?)", [await cluster_id(conn)]
                )
        records = rows = 0
        stored = self.positions()
        for role, table in TABLES.items():
            topic = self.catalog.name(role)
            for partition in await partitions_of(conn, topic):
                start = stored.get((topic, partition), 0)
                # to the true end: the reported end offset is a lower bound (read.py); one
                # transaction per `chunk` records, however small the fetches are
                pending: list[TimedRecord] = []
                async for batch in stream_timed(conn, topic, partition, start, None, chunk=chunk):
                    pending += batch
                    if len(pending) >= chunk:
                        rows += self._apply(table, topic, partition, pending)
                        records += len(pending)
                        pending = []
                if pending:
                    rows += self._apply(table, topic, partition, pending)
                    records += len(pending)
        return IndexStats(records, rows, time.perf_counter() - started)

    def _apply(self, table: str, topic: str, partition: int, batch: list[TimedRecord]) -> int:
        """One chunk's rows and the partition's new position, in one transaction."""
        make = {"decisions": _decision_row, "windows": _window_row, "model_updates": _update_row}
        values = [row for rec in batch if (row := make[table](partition, rec)) is not None]
        marks = ", ".join("?" for _ in COLUMNS[table])
        last = batch[-1]
        with self.db:
            self.db.executemany(f"INSERT OR IGNORE INTO {table} VALUES ({marks})", values)
            self.db.execute(
                "INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?)",
                [topic, partition, last.offset + 1, record_digest(last.key, last.value)],
            )
        return len(values)

    def export(self, table: str, out: Path, fmt: str) -> int:
        """The table as CSV, JSON (one array), JSON lines, or Parquet through DuckDB, streamed
        (memory stays flat)."""
        if table not in TABLES.values():
            raise ConfigError("(command line)", "--table", f"one of {sorted(TABLES.values())}")
        names = [c for c, _ in COLUMNS[table]]
        n = 0
        if fmt == "csv":
            import csv

            with out.open("w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(names)
                for row in self.rows(table):
                    w.writerow(row)
                    n += 1
            return n
        if fmt in ("json", "jsonl"):
            with out.open("wb") as fb:
                sep, first = (b",\n", b"[\n") if fmt == "json" else (b"\n", b"")
                fb.write(first)
                for row in self.rows(table):
                    if n:
                        fb.write(sep)
                    fb.write(orjson.dumps(dict(zip(names, row, strict=True))))
                    n += 1
                fb.write(b"\n]\n" if fmt == "json" else (b"\n" if n else b""))
            return n
        import tempfile

        import duckdb

        types = ", ".join(f"'{c}': '{t}'" for c, t in COLUMNS[table])
        with tempfile.NamedTemporaryFile(
            "wb", suffix=".jsonl", dir=out.parent if out.parent.is_dir() else None
        ) as f:
            for row in self.rows(table):
                f.write(orjson.dumps(dict(zip(names, row, strict=True))) + b"\n")
                n += 1
            f.flush()
            db = duckdb.connect(config={"memory_limit": "160MB", "threads": 1})
            try:
                path = str(out).replace("'", "''")
                db.execute(
                    f"COPY (SELECT * FROM read_json(?, format = 'newline_delimited', "
                    f"columns = {{{types}}})) TO '{path}' (FORMAT PARQUET)",
                    [f.name],
                )
            finally:
                db.close()
        return n


def _json(value: bytes | None) -> Any:
    try:
        return orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None


def _decision_row(partition: int, rec: TimedRecord) -> tuple[Any, ...] | None:
    d = _json(rec.value)
    try:
        trig = d.get("trigger") or {}
        return (
            d["decision_id"],
            d["subject"]["id"],
            d["subject"]["kind"],
            d["revision"],
            d["outcome"],
            d.get("model"),
            d["decided_at"],
            parse_rfc3339_ms(d["decided_at"]),
            d.get("champion_before"),
            d.get("champion_after"),
            d["gate"]["name"],
            d["gate"]["version"],
            d.get("supersedes"),
            trig.get("topic"),
            trig.get("partition"),
            trig.get("offset"),
            partition,
            rec.offset,
            (rec.value or b"").decode(),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # not a decision: nothing in the audit topic but decisions is indexed


def _window_row(partition: int, rec: TimedRecord) -> tuple[Any, ...] | None:
    m = _json(rec.value)
    if not isinstance(m, dict) or "window_id" not in m:
        return None
    return (
        m["window_id"],
        m["revision"],
        m["dataset"],
        m.get("record_total", 0),
        partition,
        rec.offset,
        (rec.value or b"").decode(),
    )


def _update_row(partition: int, rec: TimedRecord) -> tuple[Any, ...] | None:
    u = _json(rec.value)
    if not isinstance(u, dict):
        return None  # undecodable input: the worker sent it to the dlq; nothing to index
    return (
        partition,
        rec.offset,
        u.get("model"),
        u.get("version"),
        u.get("event_id"),
        u.get("artifact_uri"),
        (rec.value or b"").decode("utf-8", "replace"),
    )


#: reads of the last indexed record before the index is judged stale
_LAST_RECORD_READS = 3


async def _read_one(conn: Connection, topic: str, partition: int, offset: int) -> list[TimedRecord]:
    """The record at `offset`, read up to three times (2 s each) before concluding it is not
    there: the embedded broker's reported end offset lags behind its records for a while, and
    under load one short read found nothing (a CI run refused an index whose topic was intact)."""
    got: list[TimedRecord] = []
    for _ in range(_LAST_RECORD_READS):
        got = await read_timed(conn, topic, partition, offset, offset + 1, idle_ms=2000)
        if got:
            break
    return got
