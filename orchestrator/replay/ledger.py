"""Replay's working set, on disk: a temporary SQLite database, so that what replay keeps to
compare (derived decisions, recorded decision ids, the expected and the seen `models.log`
entries, and the per-subject result) does not live in memory. Replay's memory is then the
core's live state, a chunk of records and SQLite's page cache, however long the log.

Forked derivation processes write into the same database: each process opens its own
connection (`conn` reconnects after a fork), writers take turns (WAL, a busy timeout), one
transaction per chunk."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from orchestrator.core.digest import digest

#: SQLite's page cache per connection, in KiB (negative: a size, not a page count)
CACHE_KIB = 2048

#: (model, kind, source topic, source partition, source offset, decision id or "")
Identity = tuple[str, str, str, int, int, str]

#: sections of the report, in the order they are listed
CONFLICTS, COMPARED, MODEL_LOG = 0, 1, 2

_SCHEMA = """
CREATE TABLE derived (
    subject TEXT NOT NULL, revision INTEGER NOT NULL, kind TEXT NOT NULL, wire BLOB NOT NULL,
    PRIMARY KEY (subject, revision)) WITHOUT ROWID;
CREATE TABLE recorded (
    subject TEXT NOT NULL, revision INTEGER NOT NULL, decision_id TEXT, outcome TEXT,
    digest TEXT NOT NULL, PRIMARY KEY (subject, revision)) WITHOUT ROWID;
CREATE TABLE want (
    model TEXT, kind TEXT, topic TEXT, partition INTEGER, "offset" INTEGER, decision TEXT,
    digest TEXT NOT NULL, entry BLOB NOT NULL,
    PRIMARY KEY (model, kind, topic, partition, "offset", decision)) WITHOUT ROWID;
CREATE TABLE got (
    model TEXT, kind TEXT, topic TEXT, partition INTEGER, "offset" INTEGER, decision TEXT,
    digest TEXT NOT NULL,
    PRIMARY KEY (model, kind, topic, partition, "offset", decision)) WITHOUT ROWID;
CREATE TABLE subjects (
    section INTEGER NOT NULL, subject TEXT NOT NULL, revision INTEGER NOT NULL,
    status TEXT NOT NULL, body BLOB NOT NULL);
"""

IDENT = 'model = ? AND kind = ? AND topic = ? AND partition = ? AND "offset" = ? AND decision = ?'


class LogEntry(NamedTuple):
    """A `models.log` record as written: the model (its key) and the entry (its value)."""

    key: bytes | None
    value: bytes | None


def identity(key: bytes | None, value: bytes | None) -> tuple[Identity, Any] | None:
    """What tells one `models.log` entry from another (its model, kind and source record, and
    for a data notice the decision), and the parsed entry; None if it is not an entry."""
    try:
        entry = orjson.loads(value or b"")
        src = entry["source"]
        kind = entry["kind"]
        ident = (
            (key or b"").decode("utf-8", "replace"),
            kind,
            src["topic"],
            int(src["partition"]),
            int(src["offset"]),
            entry.get("decision_id", "") if kind == "data" else "",
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None
    if not all(isinstance(x, str) for x in ident[:3]) or not isinstance(ident[5], str):
        return None
    return ident, entry


def _remove(directory: Path, owner: int) -> None:
    if os.getpid() == owner:  # never from a forked child that inherited the ledger
        shutil.rmtree(directory, ignore_errors=True)


class Ledger:
    """A temporary database, removed by `close()` (or when the ledger is collected)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="orchestrator-replay-", dir=directory))
        self.path = self.dir / "ledger.sqlite"
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._cleanup = weakref.finalize(self, _remove, self.dir, os.getpid())
        self.conn.executescript(_SCHEMA)
        self.conn.execute("PRAGMA journal_mode = WAL")

    @property
    def conn(self) -> sqlite3.Connection:
        """This process's connection (a forked child opens its own; it never touches the one
        it inherited)."""
        if self._conn is None or self._pid != os.getpid():
            self._pid = os.getpid()
            conn = sqlite3.connect(self.path, timeout=600, isolation_level=None)
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            self._conn = conn
        return self._conn

    def release(self) -> None:
        """Close this process's connection (before forking: children open their own)."""
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    def close(self) -> None:
        self.release()
        self._cleanup()

    @contextlib.contextmanager
    def batch(self) -> Iterator[sqlite3.Connection]:
        """One transaction (a chunk's worth of writes)."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def write(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        """Many rows in one transaction."""
        with self.batch() as conn:
            conn.executemany(sql, rows)

    # derived decisions and expected models.log entries (written by derivation)

    def add_derived(self, wires: Iterable[bytes]) -> None:
        rows = []
        for wire in wires:
            d = orjson.loads(wire)
            rows.append((d["subject"]["id"], d["revision"], d["subject"]["kind"], wire))
        if rows:
            self.write("INSERT OR REPLACE INTO derived VALUES (?, ?, ?, ?)", rows)

    def expect(self, entries: Iterable[LogEntry]) -> None:
        """Entries `models.log` must hold (the first of two with one identity is kept)."""
        rows = []
        for e in entries:
            parsed = identity(e.key, e.value)
            if parsed is not None:
                ident, entry = parsed
                rows.append((*ident, digest(entry), orjson.dumps(entry)))
        if rows:
            self.write("INSERT OR IGNORE INTO want VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    # lookups

    def derived(self, subject: str, revision: int) -> bytes | None:
        row = self.conn.execute(
            "SELECT wire FROM derived WHERE subject = ? AND revision = ?", (subject, revision)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def wanted(self, ident: Identity) -> tuple[str, Any] | None:
        row = self.conn.execute(f"SELECT digest, entry FROM want WHERE {IDENT}", ident).fetchone()
        return None if row is None else (row[0], orjson.loads(row[1]))

    # the report

    def note(self, section: int, entry: dict[str, Any]) -> None:
        """A subject of the report: compared revisions are listed by (subject, revision), the
        other sections in the order noted."""
        key = (entry["subject"], entry["revision"]) if section == COMPARED else ("", 0)
        self.conn.execute(
            "INSERT INTO subjects VALUES (?, ?, ?, ?, ?)",
            (section, *key, entry["status"], orjson.dumps(entry)),
        )

    def count(self, status: str) -> int:
        row = self.conn.execute("SELECT count(*) FROM subjects WHERE status = ?", (status,))
        return int(row.fetchone()[0])

    def subjects(
        self, problems_only: bool = False, status: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """The report's subjects (all, the problems only, or those of one status), in order:
        conflicts, then every compared revision by subject and revision, then the `models.log`
        problems in the order found."""
        args: tuple[str, ...] = ()
        where = ""
        if status is not None:
            where, args = "WHERE status = ?", (status,)
        elif problems_only:
            where = "WHERE status != 'match'"
        cur = self.conn.execute(
            f"SELECT body FROM subjects {where} ORDER BY section, subject, revision, rowid", args
        )
        while rows := cur.fetchmany(1000):
            for (body,) in rows:
                yield orjson.loads(body)
