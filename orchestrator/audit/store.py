"""The audit index's file: a SQLite database of decisions, window manifests and model updates,
and the position read in each topic partition. This module reads and writes the file and
answers the queries' questions (`audit/queries.py`'s Trail); building it from the topics is
`audit/index.py`'s.

SQLite because the index must cost the same whatever the log's length: its page cache is
bounded (a few MiB), its B-tree indexes live on disk, and it opens in microseconds (a query
from the index is a process that starts, opens, looks up and exits). `audit sql` runs on it
read-only; `audit export` writes Parquet through DuckDB."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from orchestrator.audit.queries import Recorded
from orchestrator.errors import AuditRefused

if TYPE_CHECKING:  # the contracts package loads pydantic: not on the index's fast path
    from orchestrator.contracts.roles import Role

SCHEMA_VERSION = "3"

#: catalog role -> the table its records go to
TABLES: dict[Role, str] = {
    "audit": "decisions",
    "windows": "windows",
    "model_updates": "model_updates",
}

#: each table's columns, in order (and their type for a Parquet export)
COLUMNS = {
    "decisions": [
        ("decision_id", "VARCHAR"),
        ("subject_id", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("revision", "INTEGER"),
        ("outcome", "VARCHAR"),
        ("model", "VARCHAR"),
        ("decided_at", "VARCHAR"),
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

_SQL_TYPES = {"VARCHAR": "TEXT", "INTEGER": "INTEGER", "BIGINT": "INTEGER"}


def _table(name: str, key: str) -> str:
    cols = ", ".join(f'"{c}" {_SQL_TYPES[t]}' for c, t in COLUMNS[name])
    return f"CREATE TABLE IF NOT EXISTS {name} ({cols}, PRIMARY KEY ({key}))"


SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    (
        'CREATE TABLE IF NOT EXISTS positions (topic TEXT NOT NULL, "partition" INTEGER NOT NULL, '
        'next_offset INTEGER NOT NULL, last_digest TEXT NOT NULL, PRIMARY KEY (topic, "partition"))'
    ),
    # rows keyed by where their record sits: every recorded copy is kept
    _table("decisions", '"partition", "offset"'),
    "CREATE INDEX IF NOT EXISTS decisions_by_subject ON decisions (subject_id)",
    "CREATE INDEX IF NOT EXISTS decisions_by_model ON decisions (model, kind)",
    _table("windows", '"partition", "offset"'),
    "CREATE INDEX IF NOT EXISTS windows_by_id ON windows (window_id, revision)",
    _table("model_updates", '"partition", "offset"'),
]


class IndexStale(AuditRefused):
    """The index cannot be used for these topics: built for others, by another version, or the
    topics no longer hold what it read."""


class IndexStore:
    """One index file for one topic catalog (`topics`: role -> topic name, recorded in it)."""

    def __init__(self, path: Path, topics: Mapping[str, str], *, read_only: bool = False) -> None:
        self.path = path
        self.topics = {r: topics[r] for r in TABLES}
        self.read_only = read_only
        self.db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            if self.read_only:
                db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path)
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.OperationalError:
            meta = {}
        except sqlite3.DatabaseError as exc:
            raise IndexStale(
                f"{self.path}: audit index: not an index of this version ({exc}); rebuild it "
                "with `orchestrator audit index --rebuild`"
            ) from None
        names = orjson.dumps(self.topics).decode()
        if not self.read_only and not meta:
            with db:
                for statement in SCHEMA:
                    db.execute(statement)
                db.executemany(
                    "INSERT OR IGNORE INTO meta VALUES (?, ?)",
                    [("schema", SCHEMA_VERSION), ("topics", names)],
                )
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("schema") != SCHEMA_VERSION or meta.get("topics") != names:
            db.close()
            raise IndexStale(
                f"{self.path}: audit index: built for other topics or by another version "
                f"({meta.get('topics')}, schema {meta.get('schema')}); rebuild it with "
                "`orchestrator audit index --rebuild`"
            )
        return db

    def close(self) -> None:
        self.db.close()

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return str(row[0]) if row else None

    def positions(self) -> dict[tuple[str, int], int]:
        rows = self.db.execute('SELECT topic, "partition", next_offset FROM positions').fetchall()
        return {(t, p): o for t, p, o in rows}

    def as_of(self) -> dict[str, dict[int, int]]:
        """Per indexed topic and partition, the next offset not read: what answers are as of."""
        out: dict[str, dict[int, int]] = {name: {} for name in self.topics.values()}
        for (topic, partition), offset in sorted(self.positions().items()):
            out.setdefault(topic, {})[partition] = offset
        return out

    # -- the queries' trail -----------------------------------------------------------------

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

    # -- SQL and export ----------------------------------------------------------------------

    def sql(self, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self.db.execute(query)
        return [d[0] for d in cursor.description or []], cursor.fetchall()

    def rows(self, table: str) -> Iterator[tuple[Any, ...]]:
        """Every row of a table, in key order, a page at a time."""
        cursor = self.db.execute(f"SELECT * FROM {table} ORDER BY 1, 2")
        while batch := cursor.fetchmany(1000):
            yield from batch
