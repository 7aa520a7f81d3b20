"""CLI verbs that run the long-lived service (worker, demo, dev) and replay, and their parsers."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import structlog

from orchestrator.cli_args import TIME_HELP, add_verb
from orchestrator.errors import ConfigError
from orchestrator.settings import Settings


def worker_key(settings: Settings) -> bytes | None:
    """The key of the worker's own watermarks (ConfigError if its file is unsafe)."""
    from orchestrator.secrets import MIN_KEY_BYTES, read_secret_file

    if settings.worker_key_file is None:
        return None
    return read_secret_file(settings.worker_key_file, "worker_key_file", min_bytes=MIN_KEY_BYTES)


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
    from orchestrator.catalog.topics import TIMESTAMP_TYPE
    from orchestrator.kafka.admin import apply_topics, verify_topics
    from orchestrator.kafka.capabilities import producer_idempotence, supports_transactions
    from orchestrator.kafka.connect import broker_session
    from orchestrator.kafka.diagnose import client_logs_quiet
    from orchestrator.policies import Policies
    from orchestrator.worker import processes as procs
    from orchestrator.worker.app import build_app, run_worker

    procs.follow_supervisor()
    try:
        n_processes = procs.resolve(args.processes) if args.processes else 1
    except ValueError as exc:
        raise ConfigError("(command line)", "--processes", str(exc)) from None
    # Validate every file, and that the web ports are free, before consuming anything.
    catalog = settings.catalog()  # verified as this environment deploys it
    policies = Policies.load(settings.gates_dir)
    ports = procs.ports(settings.web_port, n_processes)
    for port in ports:
        check_port_free(settings.web_host, port)
    if settings.record_time == "broker" and catalog.producer_timed():
        raise ConfigError(
            "settings",
            "record_time",
            "the worker reads broker time (record_time=broker), but "
            + "; ".join(catalog.producer_timed())
            + ": set timestamp_type: LogAppendTime there (and on the topic: kafka-configs "
            "--alter --add-config message.timestamp.type=LogAppendTime), or opt in to "
            "sender-set times with record_time=producer (README, Security)",
        )
    # with record_time=producer either timestamp type will do; LogAppendTime is still better
    lenient = frozenset({TIMESTAMP_TYPE}) if settings.record_time == "producer" else frozenset()
    with broker_session(settings) as broker:
        with client_logs_quiet():  # a failure is explained in one line, not logged
            if broker.embedded or args.apply_topics:
                asyncio.run(apply_topics(broker.conn, catalog, lenient))
            else:
                asyncio.run(verify_topics(broker.conn, catalog, lenient))
            idempotent = asyncio.run(producer_idempotence(settings, broker.conn))
            # transactions fence a stale worker's state writes under either guarantee
            transactions = not broker.embedded and asyncio.run(
                supports_transactions(broker.conn, f"{settings.app_id}.probe")
            )
            if settings.processing_guarantee == "exactly_once" and not transactions:
                raise ConfigError(
                    "processing_guarantee",
                    "exactly_once",
                    f"the broker at {broker.bootstrap} does not support transactions "
                    "(the embedded broker never does); use at_least_once or Apache Kafka",
                )
        if broker.embedded and settings.record_time == "broker":
            raise ConfigError(
                "settings",
                "record_time",
                f"the embedded broker at {broker.bootstrap} keeps the time each sender puts "
                "on a record (it does not stamp LogAppendTime), so the worker cannot read broker "
                "time there: opt in to sender-set times bounded by the worker's clock with "
                "record_time=producer (ORCHESTRATOR_RECORD_TIME=producer; `demo` and `dev` do), "
                "or use Apache Kafka",
            )
        keys = policies.access.resolve_keys(os.environ, settings.gates_dir)
        if n_processes > 1:  # checked here once; each process checks again as it starts
            worker_key(settings)
            given = getattr(args, "given_argv", None) or ["worker"]
            commands = [procs.child_argv(given, port) for port in ports]
        else:
            runtime = build_app(
                settings,
                broker.conn,
                catalog,
                policies,
                keys,
                idempotent=idempotent,
                worker_key=worker_key(settings),
                transactions=transactions,
            )
            if not transactions:
                structlog.get_logger("orchestrator.worker").warning(
                    "the broker has no transactions: a worker frozen past its session time-out "
                    "could write stale state when it wakes (README, Guarantees)"
                )
            return run_worker(runtime, settings.log_level)
    # the topics were applied or verified above, once: the processes only verify them
    return procs.supervise(commands)


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from orchestrator.demo import run_demo
    from orchestrator.kafka.connect import broker_session

    with broker_session(settings, start_embedded=True) as broker:
        return run_demo(
            settings, broker, seed=args.seed, timeout_s=args.timeout, keep_stack=args.keep
        )


def cmd_dev(settings: Settings, args: argparse.Namespace) -> int:
    from orchestrator.dev import run_dev

    return run_dev(
        settings,
        worker=args.worker,
        trainer=args.trainer,
        stop=args.stop,
        embedded=args.embedded,
        reset=args.reset,
    )


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:

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
    if rng.since_ms is not None and rng.until_ms is not None and rng.since_ms > rng.until_ms:
        raise ConfigError(
            "(command line)", "--since", f"{args.since} is after --until {args.until}"
        )
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
            record_time=settings.record_time,
        )
    with report:
        print(render(report))
        if args.json:
            report.write_json(Path(args.json))
        return 0 if report.ok else 1


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
        "--record-time",
        choices=["broker", "producer"],
        help="whose record times count: broker (default; input topics must be LogAppendTime) "
        "or producer (opt-in: sender-set times bounded by the worker's clock); "
        "env ORCHESTRATOR_RECORD_TIME",
    )
    worker.add_argument(
        "--apply-topics",
        action="store_true",
        help="create missing topics first (always done on the embedded broker)",
    )
    worker.add_argument(
        "--processes",
        metavar="N",
        help="run N worker processes on this machine, members of one consumer group "
        "(`auto`: one per CPU; default 1); process i serves its endpoints on --web-port + i",
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
        "run a local broker (and, on request, a worker and the trainer) until Ctrl-C",
        "  orchestrator dev --worker --trainer\n"
        "  orchestrator dev --stop           # stop what dev or demo --keep left running\n"
        "  orchestrator dev --reset          # start again with no topics (Apache Kafka's data)",
        ("settings", "topics", "gates"),
    )
    dev.add_argument("--worker", action="store_true", help="also run a worker")
    dev.add_argument("--trainer", action="store_true", help="also run the example trainer")
    dev.add_argument(
        "--stop", action="store_true", help="stop a stack that dev or demo --keep left"
    )
    dev.add_argument(
        "--embedded",
        action="store_true",
        help="the embedded broker (memory only) even where Apache Kafka's jars are there",
    )
    dev.add_argument(
        "--reset",
        action="store_true",
        help="empty the dev broker's data first (Apache Kafka's; the embedded one keeps none)",
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
        "--record-time",
        choices=["broker", "producer"],
        help="the worker's record_time (default broker; producer: its clock's judgements are "
        "read back from the dlq); env ORCHESTRATOR_RECORD_TIME",
    )
    rp.add_argument(
        "--no-snapshot",
        action="store_true",
        help="with --since: read every partition from offset 0, not from its nearest snapshot",
    )
    rp.set_defaults(func=cmd_replay)
