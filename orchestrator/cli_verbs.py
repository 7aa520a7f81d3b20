"""The verbs of the command line that are not the worker's or the audit's: topics, produce,
commands, simulate, schema export, acls (each builds what it needs from Settings)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from orchestrator.cli_args import EXIT_CONFIG, EXIT_INVALID, EXIT_OK, err
from orchestrator.errors import TopicMismatch
from orchestrator.settings import Settings


def cmd_schema_export(settings: Settings, args: argparse.Namespace) -> int:
    from orchestrator.catalog.topics import Catalog
    from orchestrator.contracts.schema import INPUT_ROLES, export

    catalog = Catalog.load(settings.topics_dir)  # names the per-topic schemas
    for path in export(Path(args.dir), {role: catalog.name(role) for role in INPUT_ROLES}):
        print(path)
    return EXIT_OK


def cmd_topics_apply(settings: Settings, args: argparse.Namespace) -> int:
    from orchestrator.kafka.admin import apply_topics
    from orchestrator.kafka.connect import broker_session

    catalog = settings.catalog()  # with this environment's replication, if set
    with broker_session(settings) as broker:
        try:
            report = asyncio.run(apply_topics(broker.conn, catalog))
        except TopicMismatch as exc:
            err("existing topics differ from the catalog; nothing was changed:")
            for line in str(exc).splitlines():
                print(f"  {line}", file=sys.stderr)
            return EXIT_INVALID
    for name in report.created:
        print(f"created  {name}")
    for name in report.verified:
        print(f"verified {name}")
    return EXIT_OK


def cmd_tail(settings: Settings, args: argparse.Namespace) -> int:
    from orchestrator.catalog.topics import Catalog
    from orchestrator.core.timeutil import parse_rfc3339_ms
    from orchestrator.kafka.connect import broker_session
    from orchestrator.tail import Filters, Seen, Start, as_json, render, role_of, tail

    catalog = Catalog.load(settings.topics_dir)
    topic = catalog.name(role_of(args.role, catalog))
    if args.last < 0:
        err(f"{args.verb_prog}: error: -n/--last: must be 0 or more (see tail --help)")
        return EXIT_CONFIG
    start = Start(
        last=None if args.all or args.since else args.last,
        since_ms=parse_rfc3339_ms(args.since) if args.since else None,
    )
    filters = Filters(args.dataset, args.model, args.code, args.outcome)
    out = sys.stdout.buffer

    def emit(record: Seen) -> None:
        line = as_json(record) if args.json else render(record).encode()
        out.write(line + b"\n")
        out.flush()

    with broker_session(settings) as broker:
        asyncio.run(tail(broker.conn, topic, start, filters, emit, follow=args.follow))
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
                with Path(source).open("rb") as fh:
                    parsed = parse_lines(counted(fh, progress))
            except OSError as exc:
                err(f"{source}: {exc.strerror}")
                return EXIT_CONFIG
            name = source
    if not args.allow_unknown:
        from orchestrator.errors import ConfigError, ConfigProblem
        from orchestrator.policies import Policies
        from orchestrator.produce import unknown

        if not settings.gates_dir.is_dir():
            raise ConfigError.of(
                [
                    ConfigProblem(
                        str(settings.gates_dir),
                        "(directory)",
                        "does not exist: produce checks each event's dataset and model against "
                        "the policies there; pass --gates DIR, or --allow-unknown",
                    )
                ]
            )
        policies = Policies.load(settings.gates_dir)
        parsed = unknown(parsed, policies.datasets, policies.models)
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
