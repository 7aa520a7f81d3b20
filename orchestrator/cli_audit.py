"""`orchestrator audit`: the verb's shell (index, queries, SQL, export) and its parsers."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.cli_args import TIME_HELP, add_verb
from orchestrator.errors import ConfigError
from orchestrator.settings import Settings


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    from orchestrator.audit.index import AuditIndex, IndexStale
    from orchestrator.catalog.topics import Catalog
    from orchestrator.kafka.connect import broker_session

    catalog = Catalog.load(settings.topics_dir)
    path = Path(args.index or settings.audit_index or _default_index(settings, catalog))
    verb = args.audit_verb
    if verb == "index":
        with broker_session(settings) as broker:
            rebuilt = "asked (--rebuild)" if args.rebuild else None
            try:
                index = (AuditIndex.rebuild if args.rebuild else AuditIndex)(path, catalog)
            except IndexStale as exc:  # another version's or catalog's file: build it anew
                rebuilt = str(exc).split("; rebuild")[0]
                index = AuditIndex.rebuild(path, catalog)
            try:
                try:
                    stats = index.update(broker.conn)
                except IndexStale as exc:  # the index is a cache of the topics: build it anew
                    index.close()
                    rebuilt = str(exc).split("; rebuild")[0]
                    index = AuditIndex.rebuild(path, catalog)
                    stats = index.update(broker.conn)
            finally:
                index.close()
        if rebuilt and not args.rebuild:
            print(f"audit index {path}: rebuilt ({rebuilt})")
        print(
            f"audit index {path}: {stats.records} records read, {stats.rows} rows added in "
            f"{stats.seconds:.2f} s"
        )
        return 0
    if verb in ("sql", "export"):
        if not path.exists():
            raise ConfigError(
                str(path), "audit index", "not found: build it with `orchestrator audit index`"
            )
        index = AuditIndex(path, catalog, read_only=True)
        try:
            return _audit_sql(index, args) if verb == "sql" else _audit_export(index, args)
        finally:
            index.close()
    from orchestrator.audit import run_query
    from orchestrator.audit.scan import ScanTrail

    if path.exists() and not args.scan:
        if args.no_refresh:
            index = AuditIndex(path, catalog, read_only=True)
            try:
                return run_query(index, args, f"the index {path}, not refreshed")
            finally:
                index.close()
        with broker_session(settings) as broker:
            index = AuditIndex(path, catalog)
            try:
                index.update(broker.conn)
                return run_query(index, args, f"the index {path}, refreshed from the broker")
            finally:
                index.close()
    with broker_session(settings) as broker:
        return run_query(ScanTrail(broker.conn, catalog), args, "a scan of the topics")


def _default_index(settings: Settings, catalog: Any) -> Path:
    return default_index(settings.state_dir, catalog.name("audit"))


def default_index(state_dir: Path, audit_topic: str) -> Path:
    """The index of a catalog whose audit topic is `audit_topic`, beside the run's state."""
    return state_dir.parent / f"audit-{audit_topic}.sqlite"


def _audit_sql(index: Any, args: argparse.Namespace) -> int:
    import sqlite3

    import orjson

    try:
        columns, rows = index.sql(args.query)
    except sqlite3.Error as exc:
        print(f"orchestrator: error: audit sql: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    if args.json:
        out = [dict(zip(columns, r, strict=True)) for r in rows]
        print(orjson.dumps(out, default=str, option=orjson.OPT_INDENT_2).decode())
    else:
        print("\t".join(columns))
        for r in rows:
            print("\t".join("" if v is None else str(v) for v in r))
    return 0


#: the export format each suffix of --out means
EXPORT_SUFFIXES = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def _audit_export(index: Any, args: argparse.Namespace) -> int:
    import duckdb

    out = Path(args.out)
    fmt = args.format or EXPORT_SUFFIXES.get(out.suffix.lower())
    if fmt is None:  # never a format the name does not say (`x.json` was Parquet once)
        known = ", ".join(sorted(EXPORT_SUFFIXES))
        raise ConfigError(
            str(out),
            "--out",
            f"no format for {out.suffix or 'a name without suffix'}: "
            f"name it {known}, or pass --format",
        )
    if not out.parent.is_dir():
        raise ConfigError(str(out), "--out", f"no such directory: {out.parent}")
    try:
        n = index.export(args.table, out, fmt)
    except duckdb.IOException as exc:
        reason = " ".join(str(exc).split()).removeprefix("IO Error: ")
        raise ConfigError(str(out), "--out", reason) from None
    print(f"exported {n} rows of {args.table} to {out} ({fmt})")
    return 0


def register(
    verbs: argparse._SubParsersAction,  # type: ignore[type-arg]
    groups: dict[str, argparse.ArgumentParser],
    time_type: Callable[[str], str],
) -> None:
    """Add `audit` and its queries to the parser; `time_type` parses --at."""
    reads = ("settings", "broker", "topics")
    au = add_verb(
        verbs,
        groups,
        "audit",
        "query the audit trail",
        "  orchestrator audit history clicks/2026-11-23T10:00:00Z/PT1H\n"
        "  orchestrator audit champion churn --at -1d\n"
        "  orchestrator audit index && orchestrator audit sql 'SELECT count(*) FROM decisions'",
    )
    au_verbs = au.add_subparsers(dest="audit_verb", required=True, metavar="QUERY")
    h = add_verb(
        au_verbs,
        groups,
        "history",
        "every decision of a subject",
        "  orchestrator audit history clicks/2026-11-23T10:00:00Z/PT1H\n"
        "  orchestrator audit history churn:v3 --json",
        reads,
    )
    h.add_argument("subject", help="window id, MODEL:VERSION or command event id")
    li = add_verb(
        au_verbs,
        groups,
        "lineage",
        "a model version down to arrival events and offsets",
        "  orchestrator audit lineage churn:v3",
        reads,
    )
    li.add_argument("subject", metavar="MODEL:VERSION", help="a model version, e.g. churn:v3")
    li.add_argument(
        "version", nargs="?", help="(older form `lineage MODEL VERSION`: the version alone)"
    )
    ch = add_verb(
        au_verbs,
        groups,
        "champion",
        "which version was champion at a time",
        "  orchestrator audit champion churn --at now\n"
        "  orchestrator audit champion churn --at 2026-11-23T12:00:00Z\n"
        "  orchestrator audit champion churn --at -2d",
        reads,
    )
    ch.add_argument("model", help="model name, e.g. churn")
    ch.add_argument("--at", required=True, type=time_type, metavar="TIME", help=TIME_HELP)
    ix = add_verb(
        au_verbs,
        groups,
        "index",
        "build the audit index (DuckDB) from the topics, or bring it up to date",
        "  orchestrator audit index\n  orchestrator audit index --rebuild --index audit.duckdb",
        reads,
    )
    ix.add_argument("--rebuild", action="store_true", help="start from an empty index")
    sq = add_verb(
        au_verbs,
        groups,
        "sql",
        "a read-only SQL query on the audit index",
        "  orchestrator audit sql 'SELECT outcome, count(*) FROM decisions GROUP BY 1'",
        ("settings", "topics"),
    )
    sq.add_argument("query", help='e.g. "SELECT outcome, count(*) FROM decisions GROUP BY 1"')
    ex = add_verb(
        au_verbs,
        groups,
        "export",
        "write an index table as Parquet, CSV, JSON or JSON lines",
        "  orchestrator audit export --out decisions.parquet\n"
        "  orchestrator audit export --table windows --out windows.csv\n"
        "  orchestrator audit export --out decisions.jsonl        # one JSON object per row",
        ("settings", "topics"),
    )
    ex.add_argument(
        "--out",
        required=True,
        help="file to write: its suffix says the format (.parquet, .csv, .json, .jsonl)",
    )
    ex.add_argument(
        "--table",
        default="decisions",
        choices=["decisions", "windows", "model_updates"],
        help="which table (default decisions)",
    )
    ex.add_argument(
        "--format",
        choices=["parquet", "csv", "json", "jsonl"],
        help="default: from --out's suffix (json: one array; jsonl: one object per line)",
    )
    for q in (h, li, ch, ix, sq, ex):
        q.set_defaults(func=cmd_audit)
        q.add_argument(
            "--index",
            help="the audit index file (default .run/audit-<audit topic>.sqlite; env ORCHESTRATOR_AUDIT_INDEX)",
        )
    for q in (h, li, ch):
        q.add_argument(
            "--no-refresh",
            action="store_true",
            help="answer from the index as it is, without reading new records from the topics",
        )
        q.add_argument(
            "--scan", action="store_true", help="read the topics, not the index (slow on long logs)"
        )
    for q in (h, li, ch, sq):
        q.add_argument("--json", action="store_true", help="print JSON instead of text")
