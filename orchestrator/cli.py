"""The `orchestrator` command line. Builds Settings once and passes it down."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from orchestrator import __version__
from orchestrator.errors import BrokerError, ConfigError, OrchestratorError, TopicMismatch
from orchestrator.settings import Settings

EXIT_OK, EXIT_INVALID, EXIT_CONFIG = 0, 1, 2


def _settings(args: argparse.Namespace) -> Settings:
    """Flags over environment over the config file (see orchestrator/settings.py)."""
    from pydantic import ValidationError

    from orchestrator.settings import config_file_path

    overrides: dict[str, Any] = {}
    for flag, field in (
        ("broker", "broker"),
        ("gates", "gates_dir"),
        ("topics", "topics_dir"),
        ("log_level", "log_level"),
        ("web_host", "web_host"),
        ("web_port", "web_port"),
        ("processing_guarantee", "processing_guarantee"),
    ):
        value = getattr(args, flag, None)
        if value is not None:  # flags default to SUPPRESS, so absent ones are missing here
            overrides[field] = value
    config = getattr(args, "config", None)
    try:
        return Settings(**overrides, config_file=config)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = config_file_path(config)
        reason = str(err["msg"]).removeprefix("Value error, ")
        field = ".".join(str(p) for p in err["loc"])
        if not field:  # a rule across settings names its setting first
            field, _, reason = reason.partition(": ")
        raise ConfigError(str(where) if where else "settings", field, reason) from None


def _err(message: str) -> None:
    print(f"orchestrator: error: {message}", file=sys.stderr)


# -- verbs ---------------------------------------------------------------------------------


def cmd_schema_export(settings: Settings, args: argparse.Namespace) -> int:
    from orchestrator.contracts.schema import export

    for path in export(Path(args.dir)):
        print(path)
    return EXIT_OK


def cmd_topics_apply(settings: Settings, args: argparse.Namespace) -> int:
    from orchestrator.catalog.topics import Catalog
    from orchestrator.kafka.admin import apply_topics
    from orchestrator.kafka.connect import broker_session

    catalog = Catalog.load(settings.topics_dir)
    with broker_session(settings) as broker:
        try:
            report = asyncio.run(apply_topics(broker.conn, catalog))
        except TopicMismatch as exc:
            _err("existing topics differ from the catalog; nothing was changed:")
            for line in str(exc).splitlines():
                print(f"  {line}", file=sys.stderr)
            return EXIT_INVALID
    for name in report.created:
        print(f"created  {name}")
    for name in report.verified:
        print(f"verified {name}")
    return EXIT_OK


def cmd_produce(settings: Settings, args: argparse.Namespace) -> int:
    from orchestrator.catalog.topics import Catalog
    from orchestrator.kafka.connect import broker_session
    from orchestrator.produce import parse_lines, send_events

    catalog = Catalog.load(settings.topics_dir)
    source = args.file
    if source == "-":
        parsed = parse_lines(sys.stdin.buffer)
        name = "<stdin>"
    else:
        try:
            with open(source, "rb") as fh:
                parsed = parse_lines(fh)
        except OSError as exc:
            _err(f"{source}: {exc.strerror}")
            return EXIT_CONFIG
        name = source
    for error in parsed.errors:
        print(f"{name}: {error}", file=sys.stderr)
    sent = 0
    if parsed.events and (not parsed.errors or args.skip_invalid):
        with broker_session(settings) as broker:
            sent = asyncio.run(
                send_events(settings, broker.conn, catalog, [e for _, e in parsed.events])
            )
    elif parsed.errors:
        print(
            f"{name}: nothing sent: {len(parsed.errors)} invalid line(s) "
            "(use --skip-invalid to send the valid ones)",
            file=sys.stderr,
        )
    print(f"sent {sent}, invalid {len(parsed.errors)}")
    return EXIT_INVALID if parsed.errors else EXIT_OK


def _send_command(settings: Settings, args: argparse.Namespace, build: Any) -> int:
    import os

    from orchestrator.catalog.topics import Catalog
    from orchestrator.commands import actor_key
    from orchestrator.kafka.connect import broker_session
    from orchestrator.policies import Policies
    from orchestrator.produce import send_events

    catalog = Catalog.load(settings.topics_dir)
    policies = Policies.load(settings.gates_dir)
    key = actor_key(policies, settings.gates_dir, args.actor, os.environ, args.key_file)
    command = build(policies, key)
    with broker_session(settings) as broker:
        asyncio.run(send_events(settings, broker.conn, catalog, [command]))
    print(f"sent {command.type} {command.event_id} (actor {command.actor})")
    return EXIT_OK


def cmd_rollback(settings: Settings, args: argparse.Namespace) -> int:
    from orchestrator.commands import build_rollback

    return _send_command(
        settings,
        args,
        lambda p, key: build_rollback(
            p, args.model, args.actor, args.reason, key, args.to_version, args.event_id
        ),
    )


def cmd_override(settings: Settings, args: argparse.Namespace) -> int:
    from orchestrator.commands import build_override

    return _send_command(
        settings,
        args,
        lambda p, key: build_override(
            p, args.subject, args.outcome, args.actor, args.reason, key, args.event_id
        ),
    )


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    import os
    import time

    from orchestrator.catalog.topics import Catalog
    from orchestrator.contracts.codec import parse_obj
    from orchestrator.kafka.connect import broker_session
    from orchestrator.policies import Policies
    from orchestrator.produce import send_events, send_raw
    from orchestrator.simulate import EXAMPLE_KEYS, generate, to_lines

    policies = Policies.load(settings.gates_dir)
    keys = (
        EXAMPLE_KEYS
        if args.example_keys
        else policies.access.resolve_keys(os.environ, settings.gates_dir)
    )
    unsigned = sorted(a for a in policies.access.actors if a not in keys)
    if unsigned:
        print(
            f"simulate: no key for {unsigned}: their commands are left out (see --example-keys)",
            file=sys.stderr,
        )
    phases = generate(policies, keys, seed=args.seed, windows=args.windows)
    if not args.send:
        data = to_lines(phases)
        if args.out in (None, "-"):
            sys.stdout.buffer.write(data)
        else:
            Path(args.out).write_bytes(data)
            print(
                f"wrote {sum(len(p.events) + len(p.malformed) for p in phases)} lines to {args.out}",
                file=sys.stderr,
            )
        return EXIT_OK
    catalog = Catalog.load(settings.topics_dir)
    with broker_session(settings) as broker:
        for phase in phases:
            events = [parse_obj(e) for e in phase.events]
            step = max(1, int(args.rate // 10)) if args.rate else len(events) or 1
            for i in range(0, len(events), step):
                t0 = time.monotonic()
                asyncio.run(send_events(settings, broker.conn, catalog, events[i : i + step]))
                if args.rate:
                    time.sleep(max(0.0, step / args.rate - (time.monotonic() - t0)))
            if phase.malformed:
                asyncio.run(send_raw(broker.conn, catalog.name("arrivals"), phase.malformed))
            print(
                f"phase {phase.name}: sent {len(events)} events, {len(phase.malformed)} malformed records"
            )
    return EXIT_OK


def cmd_acls(settings: Settings, args: argparse.Namespace) -> int:
    from orchestrator.acls import apply, plan, principals_from, render
    from orchestrator.catalog.topics import Catalog

    catalog = Catalog.load(settings.topics_dir)
    acls = plan(catalog, settings.app_id, principals_from(args.principal), args.trainer_group)
    print(render(acls))
    if args.apply:
        from orchestrator.kafka.connect import broker_session

        with broker_session(settings) as broker:
            n = asyncio.run(apply(broker.conn, acls))
        print(f"applied {n} ACLs")
    return EXIT_OK


# -- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    # SUPPRESS: a flag given before the verb must not be reset by the verb's own parser.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument(
        "--broker",
        help="Kafka bootstrap servers, or 'embedded' (default; env ORCHESTRATOR_BROKER)",
    )
    common.add_argument("--gates", type=Path, help="gate and dataset policies (default ./gates)")
    common.add_argument("--topics", type=Path, help="topic catalog (default ./topics)")
    common.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    common.add_argument(
        "--config",
        type=Path,
        help="settings file (default ./orchestrator.toml if present; env ORCHESTRATOR_CONFIG)",
    )

    parser = argparse.ArgumentParser(
        prog="orchestrator",
        description="Event-driven streaming orchestrator for ML pipelines.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    topics = verbs.add_parser("topics", help="manage the topic catalog", parents=[common])
    topics_verbs = topics.add_subparsers(dest="topics_verb", required=True, metavar="ACTION")
    apply = topics_verbs.add_parser(
        "apply", help="create missing topics and verify existing ones", parents=[common]
    )
    apply.set_defaults(func=cmd_topics_apply)

    produce = verbs.add_parser(
        "produce", help="validate JSON lines and send them to Kafka", parents=[common]
    )
    produce.add_argument("file", nargs="?", default="-", help="JSON lines file, or - for stdin")
    produce.add_argument(
        "--skip-invalid", action="store_true", help="send the valid lines even if some are invalid"
    )
    produce.set_defaults(func=cmd_produce)

    schema = verbs.add_parser("schema", help="JSON Schema of the event contracts", parents=[common])
    schema_verbs = schema.add_subparsers(dest="schema_verb", required=True, metavar="ACTION")
    export = schema_verbs.add_parser(
        "export", help="write one JSON Schema file per type", parents=[common]
    )
    export.add_argument("dir", help="output directory")
    export.set_defaults(func=cmd_schema_export)

    for name, helptext in (
        ("rollback", "restore the previous champion (or --to-version)"),
        ("override", "force an outcome on a model version"),
    ):
        cmd = verbs.add_parser(name, help=f"sign and send a command: {helptext}", parents=[common])
        if name == "rollback":
            cmd.add_argument("model")
            cmd.add_argument("--to-version")
            cmd.set_defaults(func=cmd_rollback)
        else:
            cmd.add_argument("subject", help="MODEL:VERSION")
            cmd.add_argument("--outcome", choices=["promote", "reject"], required=True)
            cmd.set_defaults(func=cmd_override)
        cmd.add_argument("--actor", required=True)
        cmd.add_argument("--reason", required=True)
        cmd.add_argument(
            "--key-file", type=Path, help="HMAC key file (default: what gates/access.yaml names)"
        )
        cmd.add_argument("--event-id", help="idempotency key (default: a random one)")

    sim = verbs.add_parser(
        "simulate", help="a seeded realistic stream: JSON lines, or --send", parents=[common]
    )
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument(
        "--windows", type=int, default=5, help="windows of traffic per dataset (default 5)"
    )
    sim.add_argument("--out", help="JSON lines file (default stdout)")
    sim.add_argument(
        "--send", action="store_true", help="send to the broker instead of writing lines"
    )
    sim.add_argument(
        "--rate", type=float, help="with --send: events per second (default: as fast as possible)"
    )
    sim.add_argument(
        "--example-keys",
        action="store_true",
        help="sign commands with the built-in EXAMPLE keys instead of the configured ones",
    )
    sim.set_defaults(func=cmd_simulate)

    acls = verbs.add_parser(
        "acls",
        help="the least-privilege Kafka ACLs of each role (worker, producer, operator, auditor, "
        "trainer, admin); --apply creates them",
        parents=[common],
    )
    acls.add_argument(
        "--principal",
        action="append",
        metavar="ROLE=PRINCIPAL",
        help="the principal of a role (default User:<role>); repeatable",
    )
    acls.add_argument(
        "--trainer-group",
        default="orchestrator-example-trainer",
        help="the trainer's consumer group (default: the example trainer's)",
    )
    acls.add_argument("--apply", action="store_true", help="create them on the broker")
    acls.set_defaults(func=cmd_acls)

    from orchestrator import cli_worker

    cli_worker.register(verbs, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    import ssl

    from aiokafka.errors import KafkaError

    from orchestrator.kafka.diagnose import explain, quiet_client_logs

    parser = build_parser()
    args = parser.parse_args(argv)
    broker = "(settings)"
    try:
        settings = _settings(args)
        broker = "the embedded broker" if settings.is_embedded else settings.broker
        from orchestrator.logging import configure

        configure(settings.log_level, settings.log_format)
        if args.verb != "worker":
            quiet_client_logs()
        result: int = args.func(settings, args)
        return result
    except (KafkaError, ssl.SSLError) as exc:
        _err(f"broker {broker}: {explain(exc)}")
        return EXIT_CONFIG
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_CONFIG
    except BrokerError as exc:
        _err(str(exc))
        return EXIT_CONFIG
    except OrchestratorError as exc:
        _err(str(exc))
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130
