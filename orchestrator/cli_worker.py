"""CLI verbs that run the long-lived service."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.cli_args import TIME_HELP, add_verb
from orchestrator.errors import ConfigError
from orchestrator.settings import Settings


def worker_key(settings: Settings) -> bytes | None:
    """The key of the worker's own watermarks (ConfigError if its file is unsafe)."""
    from orchestrator.secrets import read_secret_file

    if settings.worker_key_file is None:
        return None
    return read_secret_file(settings.worker_key_file, "worker_key_file")


def check_port_free(host: str, port: int) -> None:
    """A ConfigError if the worker could not listen on host:port (in use, or no such address):
    said before the worker starts, instead of Faust failing mid-start."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(
            "settings", "web_host", f"{host!r} is not an address to listen on ({exc.strerror})"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # as the web server does: a port left in TIME_WAIT by a stopped worker is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                reason = (
                    f"{host}:{port} is already in use (another worker?): stop what listens "
                    "there or choose another port (--web-port, ORCHESTRATOR_WEB_PORT)"
                )
            else:
                reason = f"cannot listen on {host}:{port} ({exc.strerror})"
            raise ConfigError("settings", "web_port", reason) from None


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from orchestrator.catalog.topics import Catalog
    from orchestrator.kafka.admin import apply_topics, verify_topics
    from orchestrator.kafka.capabilities import producer_idempotence, supports_transactions
    from orchestrator.kafka.connect import broker_session
    from orchestrator.kafka.diagnose import client_logs_quiet
    from orchestrator.policies import Policies
    from orchestrator.worker.app import build_app, run_worker

    # Validate every file, and that the web port is free, before consuming anything.
    catalog = Catalog.load(settings.topics_dir)
    policies = Policies.load(settings.gates_dir)
    check_port_free(settings.web_host, settings.web_port)
    with broker_session(settings) as broker:
        with client_logs_quiet():  # a failure is explained in one line, not logged
            if broker.embedded or args.apply_topics:
                asyncio.run(apply_topics(broker.conn, catalog))
            else:
                asyncio.run(verify_topics(broker.conn, catalog))
            idempotent = asyncio.run(producer_idempotence(settings, broker.conn))
            if settings.processing_guarantee == "exactly_once" and not asyncio.run(
                supports_transactions(broker.conn, f"{settings.app_id}.probe")
            ):
                raise ConfigError(
                    "processing_guarantee",
                    "exactly_once",
                    f"the broker at {broker.bootstrap} does not support transactions "
                    "(the embedded broker never does); use at_least_once or Apache Kafka",
                )
        keys = policies.access.resolve_keys(os.environ, settings.gates_dir)
        runtime = build_app(
            settings,
            broker.conn,
            catalog,
            policies,
            keys,
            idempotent=idempotent,
            worker_key=worker_key(settings),
        )
        return run_worker(runtime, settings.log_level)


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from orchestrator.demo import run_demo
    from orchestrator.kafka.connect import broker_session

    with broker_session(settings, start_embedded=True) as broker:
        return run_demo(
            settings, broker, seed=args.seed, timeout_s=args.timeout, keep_stack=args.keep
        )


def cmd_dev(settings: Settings, args: argparse.Namespace) -> int:
    from orchestrator.dev import run_dev

    return run_dev(settings, worker=args.worker, trainer=args.trainer, stop=args.stop)


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from orchestrator.catalog.topics import Catalog
    from orchestrator.core.timeutil import parse_rfc3339_ms
    from orchestrator.kafka.connect import broker_session
    from orchestrator.policies import Policies
    from orchestrator.progress import CountedSource, Progress
    from orchestrator.replay import Range, parse_offsets, render, replay
    from orchestrator.replay.sources import KafkaSource

    catalog = Catalog.load(settings.topics_dir)
    policies = Policies.load(settings.gates_dir)
    try:
        rng = Range(
            from_offsets=parse_offsets(args.from_offset, "--from-offset"),
            to_offsets=parse_offsets(args.to_offset, "--to-offset"),
            since_ms=parse_rfc3339_ms(args.since) if args.since else None,
            until_ms=parse_rfc3339_ms(args.until) if args.until else None,
        )
    except ValueError as exc:
        raise ConfigError("(command line)", "range", str(exc)) from None
    if args.processes is not None and args.processes < 1:
        raise ConfigError(
            "(command line)", "--processes", f"must be 1 or more, not {args.processes}"
        )
    keys = policies.access.resolve_keys(os.environ, settings.gates_dir)
    with broker_session(settings) as broker, Progress("replay: records read") as progress:
        report = replay(
            CountedSource(KafkaSource(broker.conn), progress),
            catalog,
            policies,
            keys,
            rng,
            processes=args.processes,
            worker_key=worker_key(settings),
            use_snapshots=not args.no_snapshot,
        )
    with report:
        print(render(report))
        if args.json:
            report.write_json(Path(args.json))
        return 0 if report.ok else 1


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    from orchestrator.audit import AuditIndex, ScanTrail, run_query
    from orchestrator.catalog.topics import Catalog
    from orchestrator.kafka.connect import broker_session

    catalog = Catalog.load(settings.topics_dir)
    path = Path(args.index or settings.audit_index or _default_index(settings, catalog))
    verb = args.audit_verb
    if verb == "index":
        with broker_session(settings) as broker:
            index = (AuditIndex.rebuild if args.rebuild else AuditIndex)(path, catalog)
            try:
                stats = index.update(broker.conn)
            finally:
                index.close()
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
    if path.exists() and not args.scan:
        if args.no_refresh:
            index = AuditIndex(path, catalog, read_only=True)
            try:
                return run_query(index, args)
            finally:
                index.close()
        with broker_session(settings) as broker:
            index = AuditIndex(path, catalog)
            try:
                index.update(broker.conn)
                return run_query(index, args)
            finally:
                index.close()
    with broker_session(settings) as broker:
        return run_query(ScanTrail(broker.conn, catalog), args)


def _default_index(settings: Settings, catalog: Any) -> Path:
    return settings.state_dir.parent / f"audit-{catalog.name('audit')}.duckdb"


def _audit_sql(index: Any, args: argparse.Namespace) -> int:
    import duckdb
    import orjson

    try:
        columns, rows = index.sql(args.query)
    except duckdb.Error as exc:
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


def _audit_export(index: Any, args: argparse.Namespace) -> int:
    out = Path(args.out)
    fmt = args.format or ("csv" if out.suffix == ".csv" else "parquet")
    n = index.export(args.table, out, fmt)
    print(f"exported {n} rows of {args.table} to {out} ({fmt})")
    return 0


def register(
    verbs: argparse._SubParsersAction,  # type: ignore[type-arg]
    groups: dict[str, argparse.ArgumentParser],
    time_type: Callable[[str], str],
) -> None:
    """Add the service verbs to the parser; `time_type` parses the time flags."""
    every = ("settings", "broker", "topics", "gates")
    worker = add_verb(
        verbs,
        groups,
        "worker",
        "run the orchestrator service (Faust agents)",
        "  orchestrator worker                                 # on the `orchestrator dev` broker\n"
        "  orchestrator worker --broker kafka:9092 --apply-topics --web-port 6067",
        every,
    )
    worker.add_argument("--web-host", help="HTTP bind address (default 127.0.0.1)")
    worker.add_argument(
        "--web-port", type=int, help="HTTP port for /metrics, /healthz, /readyz (default 6066)"
    )
    worker.add_argument(
        "--processing-guarantee",
        choices=["at_least_once", "exactly_once"],
        help="at_least_once (default) or exactly_once (Apache Kafka transactions); "
        "env ORCHESTRATOR_PROCESSING_GUARANTEE",
    )
    worker.add_argument(
        "--apply-topics",
        action="store_true",
        help="create missing topics first (always done on the embedded broker)",
    )
    worker.set_defaults(func=cmd_worker)

    demo = add_verb(
        verbs,
        groups,
        "demo",
        "run a seeded simulation end to end and verify it (embedded broker by default)",
        "  orchestrator demo\n"
        "  orchestrator demo --keep          # leave it running, then try audit and replay\n"
        "  orchestrator demo --seed 11 --broker 127.0.0.1:9092",
        every,
    )
    demo.add_argument("--seed", type=int, default=7, help="simulation seed (default 7)")
    demo.add_argument(
        "--timeout",
        type=float,
        default=90.0,
        help="seconds to wait for the worker to settle after each phase (default 90)",
    )
    demo.add_argument(
        "--keep",
        action="store_true",
        help="leave the broker, worker and trainer running afterwards (stop: orchestrator dev --stop)",
    )
    demo.set_defaults(func=cmd_demo)

    dev = add_verb(
        verbs,
        groups,
        "dev",
        "run the embedded broker (and, on request, a worker and the trainer) until Ctrl-C",
        "  orchestrator dev --worker --trainer\n"
        "  orchestrator dev --stop           # stop what dev or demo --keep left running",
        ("settings", "topics", "gates"),
    )
    dev.add_argument("--worker", action="store_true", help="also run a worker")
    dev.add_argument("--trainer", action="store_true", help="also run the example trainer")
    dev.add_argument(
        "--stop", action="store_true", help="stop a stack that dev or demo --keep left"
    )
    dev.set_defaults(func=cmd_dev)

    rp = add_verb(
        verbs,
        groups,
        "replay",
        "re-derive decisions from the input topics and compare",
        "  orchestrator replay                                 # everything, from offset 0\n"
        "  orchestrator replay --since -1h --json report.json  # decisions of the last hour\n"
        "  orchestrator replay --since 2026-11-25 --until 2026-11-26T00:00:00Z",
        every,
    )
    rp.add_argument(
        "--from-offset",
        action="append",
        metavar="P:O",
        help="data.arrivals partition P from offset O (inclusive); repeatable",
    )
    rp.add_argument(
        "--to-offset",
        action="append",
        metavar="P:O",
        help="data.arrivals partition P up to offset O (inclusive); repeatable",
    )
    rp.add_argument(
        "--since",
        type=time_type,
        metavar="TIME",
        help=f"compare decisions triggered at or after this broker time: {TIME_HELP}",
    )
    rp.add_argument(
        "--until",
        type=time_type,
        metavar="TIME",
        help="read and compare up to this broker time (same forms as --since)",
    )
    rp.add_argument("--json", metavar="FILE", help="write the machine-readable report here")
    rp.add_argument(
        "--processes",
        type=int,
        metavar="N",
        help="derive data.arrivals partitions in N processes (default: one per CPU; 1: none)",
    )
    rp.add_argument(
        "--no-snapshot",
        action="store_true",
        help="with --since: read every partition from offset 0, not from its nearest snapshot",
    )
    rp.set_defaults(func=cmd_replay)
    _register_audit(verbs, groups, time_type)


def _register_audit(
    verbs: argparse._SubParsersAction,  # type: ignore[type-arg]
    groups: dict[str, argparse.ArgumentParser],
    time_type: Callable[[str], str],
) -> None:
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
        "  orchestrator audit lineage churn v3",
        reads,
    )
    li.add_argument("model", help="model name, e.g. churn")
    li.add_argument("version", help="model version, e.g. v3")
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
        "write an index table as Parquet (or CSV)",
        "  orchestrator audit export --out decisions.parquet\n"
        "  orchestrator audit export --table windows --out windows.csv",
        ("settings", "topics"),
    )
    ex.add_argument("--out", required=True, help="file to write (.parquet or .csv)")
    ex.add_argument(
        "--table",
        default="decisions",
        choices=["decisions", "windows", "model_updates"],
        help="which table (default decisions)",
    )
    ex.add_argument("--format", choices=["parquet", "csv"], help="default: from --out's suffix")
    for q in (h, li, ch, ix, sq, ex):
        q.set_defaults(func=cmd_audit)
        q.add_argument(
            "--index",
            help="the audit index file (default .run/audit-<audit topic>.duckdb; env ORCHESTRATOR_AUDIT_INDEX)",
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
