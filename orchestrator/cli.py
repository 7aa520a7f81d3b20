"""The `orchestrator` command line. Builds Settings once and passes it down."""

from __future__ import annotations

import argparse
import asyncio
import sys
import traceback
from pathlib import Path
from typing import Any

from orchestrator.cli_args import normalize
from orchestrator.errors import (
    BrokerError,
    ConfigError,
    InvariantViolation,
    OrchestratorError,
    TopicMismatch,
)
from orchestrator.settings import Settings

EXIT_OK, EXIT_INVALID, EXIT_CONFIG = 0, 1, 2


_SETTING_FLAGS = (
    ("broker", "broker"),
    ("gates", "gates_dir"),
    ("topics", "topics_dir"),
    ("log_level", "log_level"),
    ("web_host", "web_host"),
    ("web_port", "web_port"),
    ("processing_guarantee", "processing_guarantee"),
)


def _settings(args: argparse.Namespace) -> Settings:
    """Flags over environment over the config file (see orchestrator/settings.py). A
    ConfigError names every invalid setting and where it came from."""
    import os

    from pydantic import ValidationError

    from orchestrator.errors import ConfigProblem
    from orchestrator.settings import config_file_path

    overrides: dict[str, Any] = {}
    flags: dict[str, str] = {}
    for flag, field in _SETTING_FLAGS:
        value = getattr(args, flag, None)
        if value is not None:  # flags default to SUPPRESS, so absent ones are missing here
            overrides[field] = value
            flags[field] = "--" + flag.replace("_", "-")
    config = getattr(args, "config", None)
    try:
        return Settings(**overrides, config_file=config)
    except ValidationError as exc:
        where = config_file_path(config)
        problems = []
        for err in exc.errors(include_url=False):
            reason = str(err["msg"]).removeprefix("Value error, ")
            field = ".".join(str(p) for p in err["loc"])
            if not field:  # a rule across settings names its setting first
                field, _, reason = reason.partition(": ")
            env = f"ORCHESTRATOR_{field.upper()}"
            if field in flags:
                problems.append(ConfigProblem("(command line)", flags[field], reason))
            elif env in os.environ:
                problems.append(ConfigProblem("(environment)", env, reason))
            else:
                problems.append(ConfigProblem(str(where) if where else "settings", field, reason))
        raise ConfigError.of(problems) from None


def _err(message: str) -> None:
    print(f"orchestrator: error: {message}", file=sys.stderr)


# -- verbs ---------------------------------------------------------------------------------


def cmd_schema_export(settings: Settings, args: argparse.Namespace) -> int:
    from orchestrator.catalog.topics import Catalog
    from orchestrator.contracts.schema import INPUT_ROLES, export

    catalog = Catalog.load(settings.topics_dir)  # names the per-topic schemas
    for path in export(Path(args.dir), {role: catalog.name(role) for role in INPUT_ROLES}):
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
    from orchestrator.progress import Progress, counted

    catalog = Catalog.load(settings.topics_dir)
    source = args.file
    with Progress("produce: lines validated") as progress:
        if source == "-":
            parsed = parse_lines(counted(sys.stdin.buffer, progress))
            name = "<stdin>"
        else:
            try:
                with open(source, "rb") as fh:
                    parsed = parse_lines(counted(fh, progress))
            except OSError as exc:
                _err(f"{source}: {exc.strerror}")
                return EXIT_CONFIG
            name = source
    for error in parsed.errors:
        print(f"{name}: {error}", file=sys.stderr)
    sent = 0
    if parsed.events and (not parsed.errors or args.skip_invalid):
        events = [e for _, e in parsed.events]
        with (
            broker_session(settings) as broker,
            Progress("produce: events sent", len(events)) as progress,
        ):
            sent = asyncio.run(
                send_events(settings, broker.conn, catalog, events, sent=progress.add)
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


def main(argv: list[str] | None = None) -> int:
    """Run one verb. Every expected failure is one line on stderr and an exit code (README,
    CLI): 1 invalid input, 2 configuration, broker or command line; --debug adds the traceback."""
    import ssl

    from aiokafka.errors import KafkaError

    from orchestrator.cli_parser import build_parser
    from orchestrator.kafka.diagnose import explain, quiet_client_logs

    parser = build_parser()
    args = parser.parse_args(normalize(sys.argv[1:] if argv is None else argv))
    debug = getattr(args, "debug", False)
    broker = "(settings)"

    def fail(code: int, *lines: str) -> int:
        if debug:
            traceback.print_exc()
        for line in lines:
            _err(line)
        return code

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
        return fail(EXIT_CONFIG, f"broker {broker}: {explain(exc)}")
    except ConfigError as exc:
        return fail(EXIT_CONFIG, *(str(p) for p in exc.problems))
    except BrokerError as exc:
        return fail(EXIT_CONFIG, str(exc))
    except InvariantViolation:  # our bug: crash loudly, traceback and all
        raise
    except OrchestratorError as exc:
        return fail(EXIT_INVALID, str(exc))
    except OSError as exc:  # a file or directory that cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        return fail(EXIT_CONFIG, f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        return 130
