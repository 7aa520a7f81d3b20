"""The audit index: a local DuckDB database of decisions, window manifests and model updates,
built incrementally from the topics (`orchestrator audit index`). Auditors can query it with
SQL directly (`audit sql`, or any DuckDB client) and export it as Parquet (`audit export`).

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
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson
from aiokafka.protocol.metadata import MetadataRequest

from orchestrator.audit.queries import Recorded
from orchestrator.catalog.topics import Catalog
from orchestrator.core.timeutil import parse_rfc3339_ms
from orchestrator.errors import AuditRefused, ConfigError
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.read import TimedRecord, partitions_of, read_timed, stream_timed

#: DuckDB settings: bounded memory whatever the log's length (what does not fit spills to
#: a temporary directory beside the index), and a checkpoint whenever the WAL passes 64 MB
DB_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "memory_limit": "160MB",
    "threads": 2,
    "checkpoint_threshold": "64MB",
}

SCHEMA_VERSION = "2"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS positions (
    topic VARCHAR NOT NULL,
    "partition" INTEGER NOT NULL,
    next_offset BIGINT NOT NULL,
    last_digest VARCHAR NOT NULL,
    PRIMARY KEY (topic, "partition")
);
CREATE TABLE IF NOT EXISTS decisions (
    decision_id VARCHAR NOT NULL,
    subject_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    revision INTEGER NOT NULL,
    outcome VARCHAR NOT NULL,
    model VARCHAR,
    decided_at TIMESTAMPTZ NOT NULL,
    decided_ms BIGINT NOT NULL,
    champion_before VARCHAR,
    champion_after VARCHAR,
    gate VARCHAR NOT NULL,
    gate_version INTEGER NOT NULL,
    supersedes VARCHAR,
    trigger_topic VARCHAR,
    trigger_partition INTEGER,
    trigger_offset BIGINT,
    "partition" INTEGER NOT NULL,
    "offset" BIGINT NOT NULL,
    record JSON NOT NULL,
    PRIMARY KEY ("partition", "offset")
);
CREATE INDEX IF NOT EXISTS decisions_by_subject ON decisions (subject_id);
CREATE INDEX IF NOT EXISTS decisions_by_model ON decisions (model);
CREATE TABLE IF NOT EXISTS windows (
    window_id VARCHAR NOT NULL,
    revision INTEGER NOT NULL,
    dataset VARCHAR NOT NULL,
    record_total BIGINT NOT NULL,
    "partition" INTEGER NOT NULL,
    "offset" BIGINT NOT NULL,
    manifest JSON NOT NULL,
    PRIMARY KEY ("partition", "offset")
);
CREATE INDEX IF NOT EXISTS windows_by_id ON windows (window_id);
CREATE TABLE IF NOT EXISTS model_updates (
    "partition" INTEGER NOT NULL,
    "offset" BIGINT NOT NULL,
    model VARCHAR,
    version VARCHAR,
    event_id VARCHAR,
    artifact_uri VARCHAR,
    record JSON NOT NULL,
    PRIMARY KEY ("partition", "offset")
);
"""

#: catalog role -> the table its records go to
TABLES = {"audit": "decisions", "windows": "windows", "model_updates": "model_updates"}

#: each table's columns as a chunk is loaded (read_json: row-by-row inserts cost ~4 ms a row)
COLUMNS = {
    "decisions": [
        ("decision_id", "VARCHAR"),
        ("subject_id", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("revision", "INTEGER"),
        ("outcome", "VARCHAR"),
        ("model", "VARCHAR"),
        ("decided_at", "TIMESTAMPTZ"),
        ("decided_ms", "BIGINT"),
        ("champion_before", "VARCHAR"),
        ("champion_after", "VARCHAR"),
        ("gate", "VARCHAR"),
        ("gate_version", "INTEGER"),
        ("supersedes", "VARCHAR"),
        ("trigger_topic", "VARCHAR"),
        ("trigger_partition", "INTEGER"),
        ("trigger_offset", "BIGINT"),
        ("partition", "INTEGER"),
        ("offset", "BIGINT"),
        ("record", "VARCHAR"),
    ],
    "windows": [
        ("window_id", "VARCHAR"),
        ("revision", "INTEGER"),
        ("dataset", "VARCHAR"),
        ("record_total", "BIGINT"),
        ("partition", "INTEGER"),
        ("offset", "BIGINT"),
        ("manifest", "VARCHAR"),
    ],
    "model_updates": [
        ("partition", "INTEGER"),
        ("offset", "BIGINT"),
        ("model", "VARCHAR"),
        ("version", "VARCHAR"),
        ("event_id", "VARCHAR"),
        ("artifact_uri", "VARCHAR"),
        ("record", "VARCHAR"),
    ],
}


@dataclass(frozen=True)
class IndexStats:
    records: int
    rows: int
    seconds: float
    #: why the index was rebuilt before this update (None: it was not)
    rebuilt: str | None = None


class IndexStale(AuditRefused):
    """The topics no longer hold what the index was built from."""


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


class AuditIndex:
    """One index file for one topic catalog (its topic names are recorded in it)."""

    def __init__(self, path: Path, catalog: Catalog, *, read_only: bool = False) -> None:
        self.path = path
        self.catalog = catalog
        self.read_only = read_only
        self._spool = str(path.parent) if not read_only else None
        self.db = self._open()

    def _open(self) -> duckdb.DuckDBPyConnection:
        if not self.read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = duckdb.connect(str(self.path), read_only=self.read_only, config=DB_CONFIG)
        except duckdb.Error as exc:
            raise ConfigError(str(self.path), "audit index", _one_line(exc)) from None
        topics = orjson.dumps({r: self.catalog.name(r) for r in TABLES}).decode()
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except duckdb.Error:
            meta = {}
        if not self.read_only and not meta:
            db.execute(SCHEMA)
            db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema', ?), ('topics', ?)",
                [SCHEMA_VERSION, topics],
            )
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("schema") != SCHEMA_VERSION or meta.get("topics") != topics:
            db.close()
            raise IndexStale(
                f"{self.path}: audit index: built for other topics or another schema "
                f"({meta.get('topics')}, schema {meta.get('schema')}); rebuild it with "
                "`orchestrator audit index --rebuild`"
            )
        return db

    def close(self) -> None:
        self.db.close()

    @classmethod
    def rebuild(cls, path: Path, catalog: Catalog) -> AuditIndex:
        """An empty index in place of whatever was at `path`."""
        for p in (path, path.with_name(path.name + ".wal")):
            p.unlink(missing_ok=True)
        return cls(path, catalog)

    # -- building ----------------------------------------------------------------------------

    def positions(self) -> dict[tuple[str, int], int]:
        rows = self.db.execute('SELECT topic, "partition", next_offset FROM positions').fetchall()
        return {(t, p): o for t, p, o in rows}

    def as_of(self) -> dict[str, dict[int, int]]:
        """Per indexed topic and partition, the next offset not read: what answers are as of."""
        out: dict[str, dict[int, int]] = {self.catalog.name(r): {} for r in TABLES}
        for (topic, partition), offset in sorted(self.positions().items()):
            out.setdefault(topic, {})[partition] = offset
        return out

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return str(row[0]) if row else None

    def update(self, conn: Connection, *, chunk: int = 5000) -> IndexStats:
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
            got = await read_timed(
                conn, topic, partition, next_offset - 1, next_offset, idle_ms=2000
            )
            if not got or got[0].offset != next_offset - 1:
                return f"{topic} partition {partition} no longer holds offset {next_offset - 1}"
            if record_digest(got[0].key, got[0].value) != last:
                return f"{topic} partition {partition} holds another record at offset {next_offset - 1}"
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
            self.db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('cluster', ?)", [await cluster_id(conn)]
            )
        records = rows = 0
        stored = self.positions()
        for role, table in TABLES.items():
            topic = self.catalog.name(role)
            for partition in await partitions_of(conn, topic):
                start = stored.get((topic, partition), 0)
                # to the true end: the reported end offset is a lower bound (read.py). One
                # transaction per `chunk` records however small the fetches are: a DuckDB
                # commit costs ~0.1 s (a fetch of ~3 KB decisions holds a few hundred)
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
        make = {"decisions": _decision_row, "windows": _window_row, "model_updates": _update_row}
        values = [row for rec in batch if (row := make[table](partition, rec)) is not None]
        columns = COLUMNS[table]
        with tempfile.NamedTemporaryFile("wb", suffix=".jsonl", dir=self._spool) as f:
            for row in values:
                f.write(orjson.dumps(dict(zip((c for c, _ in columns), row, strict=True))))
                f.write(b"\n")
            f.flush()
            types = ", ".join(f"'{c}': '{t}'" for c, t in columns)
            last = batch[-1]
            with self._transaction():
                if values:
                    self.db.execute(
                        f"INSERT OR IGNORE INTO {table} SELECT * FROM read_json(?, "
                        f"format = 'newline_delimited', columns = {{{types}}})",
                        [f.name],
                    )
                self.db.execute(
                    "INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?)",
                    [topic, partition, last.offset + 1, record_digest(last.key, last.value)],
                )
        return len(values)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- queries (the Trail of audit/queries.py) ------------------------------------------------

    def _recorded(self, where: str, args: list[Any]) -> list[Recorded]:
        rows = self.db.execute(
            f'SELECT record, "partition", "offset" FROM decisions WHERE {where}', args
        ).fetchall()
        return [Recorded(orjson.loads(r), p, o) for r, p, o in rows]

    def history(self, subject: str) -> list[Recorded]:
        return self._recorded("subject_id = ?", [subject])

    def model_decisions(self, model: str) -> list[Recorded]:
        return self._recorded("model = ? AND kind <> 'data_window'", [model])

    def update_at(self, partition: int, offset: int) -> dict[str, Any] | None:
        row = self.db.execute(
            'SELECT record FROM model_updates WHERE "partition" = ? AND "offset" = ?',
            [partition, offset],
        ).fetchone()
        try:
            return orjson.loads(row[0]) if row else None
        except orjson.JSONDecodeError:
            return None

    def manifests(self, window_id: str, revision: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT manifest FROM windows WHERE window_id = ? AND revision = ?",
            [window_id, revision],
        ).fetchall()
        return [orjson.loads(r[0]) for r in rows]

    def sql(self, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self.db.execute(query)
        return [d[0] for d in cursor.description or []], cursor.fetchall()

    def export(self, table: str, out: Path, fmt: str) -> int:
        if table not in TABLES.values():
            raise ConfigError("(command line)", "--table", f"one of {sorted(TABLES.values())}")
        options = "FORMAT PARQUET" if fmt == "parquet" else "FORMAT CSV, HEADER"
        path = str(out).replace("'", "''")
        self.db.execute(f"COPY (SELECT * FROM {table}) TO '{path}' ({options})")
        (count,) = self.db.execute(f"SELECT count(*) FROM {table}").fetchone() or (0,)
        return int(count)


def _json(value: bytes | None) -> Any:
    try:
        return orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None


def _decision_row(partition: int, rec: TimedRecord) -> tuple[Any, ...] | None:
    offset, value = rec[0], rec[2]
    d = _json(value)
    try:
        return _decision_fields(d, partition, offset, value or b"")
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # not a decision: nothing in the audit topic but decisions is indexed


def _decision_fields(d: Any, partition: int, offset: int, value: bytes) -> tuple[Any, ...]:
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
        offset,
        value.decode(),
    )


def _window_row(partition: int, rec: TimedRecord) -> tuple[Any, ...] | None:
    offset, value = rec[0], rec[2]
    m = _json(value)
    if not isinstance(m, dict) or "window_id" not in m:
        return None
    return (
        m["window_id"],
        m["revision"],
        m["dataset"],
        m.get("record_total", 0),
        partition,
        offset,
        (value or b"").decode(),
    )


def _update_row(partition: int, rec: TimedRecord) -> tuple[Any, ...] | None:
    offset, value = rec[0], rec[2]
    u = _json(value)
    if not isinstance(u, dict):
        return None  # undecodable input: the worker sent it to the dlq; nothing to index
    return (
        partition,
        offset,
        u.get("model"),
        u.get("version"),
        u.get("event_id"),
        u.get("artifact_uri"),
        (value or b"").decode("utf-8", "replace"),
    )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
