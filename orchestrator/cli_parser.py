"""The `orchestrator` command line as argparse parsers: every verb with its help, its examples
and only the flag groups it uses (orchestrator/cli_args.py)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator import __version__
from orchestrator.cli_args import Parser, add_verb, flag_groups, time_arg, wall_clock_ms
from orchestrator.cli_verbs import (
    cmd_acls,
    cmd_override,
    cmd_produce,
    cmd_rollback,
    cmd_schema_export,
    cmd_simulate,
    cmd_tail,
    cmd_topics_apply,
)


def build_parser(now_ms: Callable[[], int] = wall_clock_ms) -> argparse.ArgumentParser:
    """The whole command line; `now_ms` is the clock that `now` and `-1h` are read against."""
    groups = flag_groups()
    parser = Parser(
        prog="orchestrator",
        description="Event-driven streaming orchestrator for ML pipelines.",
        epilog="examples:\n"
        "  orchestrator demo                      # the whole loop on an embedded broker\n"
        "  orchestrator dev --worker              # a local broker and worker until Ctrl-C\n"
        "  orchestrator topics apply --help       # every verb has its own help and examples",
        parents=[groups["debug"]],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    topics = add_verb(
        verbs,
        groups,
        "topics",
        "manage the topic catalog",
        "  orchestrator topics apply --broker 127.0.0.1:9092 --topics topics/",
    )
    topics_verbs = topics.add_subparsers(dest="topics_verb", required=True, metavar="ACTION")
    apply = add_verb(
        topics_verbs,
        groups,
        "apply",
        "create missing topics and verify existing ones (nothing changes if one differs)",
        "  orchestrator topics apply                           # on the `orchestrator dev` broker\n"
        "  orchestrator topics apply --broker kafka:9092 --topics topics/\n"
        "  orchestrator topics apply --replication 3 --min-insync-replicas 2   # production",
        SETTINGS_BROKER_TOPICS,
    )
    apply.add_argument(
        "--replication",
        type=int,
        default=argparse.SUPPRESS,
        metavar="N",
        help="every topic's replication factor here, over the catalog's files "
        "(env ORCHESTRATOR_TOPIC_REPLICATION; the worker must be given the same)",
    )
    apply.add_argument(
        "--min-insync-replicas",
        type=int,
        default=argparse.SUPPRESS,
        metavar="M",
        help="every topic's min.insync.replicas (env ORCHESTRATOR_TOPIC_MIN_INSYNC_REPLICAS)",
    )
    apply.set_defaults(func=cmd_topics_apply)

    produce = add_verb(
        verbs,
        groups,
        "produce",
        "validate JSON lines and send them to Kafka, keyed per the contract",
        "  orchestrator produce events.jsonl\n"
        "  orchestrator simulate --example-keys | orchestrator produce -\n"
        "  orchestrator produce --skip-invalid events.jsonl   # send the valid lines anyway\n"
        "  orchestrator produce --allow-unknown new.jsonl     # datasets/models without a policy",
        ALL_FLAGS,
    )
    produce.add_argument("file", nargs="?", default="-", help="JSON lines file, or - for stdin")
    produce.add_argument(
        "--skip-invalid", action="store_true", help="send the valid lines even if some are invalid"
    )
    produce.add_argument(
        "--allow-unknown",
        action="store_true",
        help="send events of datasets and models that have no policy in --gates "
        "(refused by default: the worker would send them to the dlq)",
    )
    produce.set_defaults(func=cmd_produce)

    schema = add_verb(
        verbs,
        groups,
        "schema",
        "JSON Schema of the event contracts",
        "  orchestrator schema export schemas/",
    )
    schema_verbs = schema.add_subparsers(dest="schema_verb", required=True, metavar="ACTION")
    export = add_verb(
        schema_verbs,
        groups,
        "export",
        "write one JSON Schema file per type and one per input topic (named by --topics)",
        "  orchestrator schema export schemas/",
        uses=("topics",),
    )
    export.add_argument("dir", help="output directory (created if missing)")
    export.set_defaults(func=cmd_schema_export)

    _add_tail(verbs, groups, time_arg(now_ms))
    _add_commands(verbs, groups)
    _add_simulate(verbs, groups)
    _add_acls(verbs, groups)

    from orchestrator import cli_audit, cli_mlflow, cli_worker

    cli_worker.register(verbs, groups, time_arg(now_ms))
    cli_audit.register(verbs, groups, time_arg(now_ms))
    cli_mlflow.register(verbs, groups)
    return parser


SETTINGS_BROKER_TOPICS = ("settings", "broker", "topics")
ALL_FLAGS = ("settings", "broker", "topics", "gates")
_COMMAND_FLAGS_HELP = {
    "--actor": "who sends it: an actor of gates/access.yaml, whose key signs the command",
    "--reason": "why, in words: recorded with the decision in the audit trail",
}


def _add_tail(
    verbs: Any, groups: dict[str, argparse.ArgumentParser], time_type: Callable[[str], str]
) -> None:
    from orchestrator.tail import TAIL_ROLES

    tail = add_verb(
        verbs,
        groups,
        "tail",
        "print the records of a topic (windows, late, dlq, audit, champions, training...)",
        "  orchestrator tail windows                      # the last 10 window manifests\n"
        "  orchestrator tail dlq --code E_SCHEMA -n 50    # the last 50 dlq records of a code\n"
        "  orchestrator tail audit --model churn --follow # churn's decisions as they are made\n"
        "  orchestrator tail late --dataset clicks --since -1h --json",
        SETTINGS_BROKER_TOPICS,
    )
    tail.add_argument(
        "role",
        metavar="ROLE",
        help=f"a role ({', '.join(sorted(TAIL_ROLES))}) or a topic name of the catalog",
    )
    tail.add_argument("--dataset", help="only records about this dataset")
    tail.add_argument("--model", help="only records about this model")
    tail.add_argument(
        "--code", help="only records with this code (dlq, late, a decision's failed check)"
    )
    tail.add_argument("--outcome", help="only decisions with this outcome (promote, reject...)")
    start = tail.add_mutually_exclusive_group()
    start.add_argument(
        "-n",
        "--last",
        type=int,
        default=10,
        metavar="N",
        help="the last N matching records (default 10; 0 with --follow: only new ones)",
    )
    start.add_argument("--all", action="store_true", help="every record from the beginning")
    start.add_argument(
        "--since", type=time_type, metavar="TIME", help="every record from this broker time on"
    )
    tail.add_argument(
        "-f", "--follow", action="store_true", help="keep printing records as they arrive"
    )
    tail.add_argument(
        "--json", action="store_true", help="one JSON object per record (topic, offset, value)"
    )
    tail.set_defaults(func=cmd_tail)


def _add_commands(verbs: Any, groups: dict[str, argparse.ArgumentParser]) -> None:
    rollback = add_verb(
        verbs,
        groups,
        "rollback",
        "sign and send a command: restore the previous champion (or --to-version)",
        "  orchestrator rollback churn --actor alice --reason 'v4 drifts on eu traffic'\n"
        "  orchestrator rollback churn --to-version v2 --actor alice --reason 'back to v2'",
        ALL_FLAGS,
    )
    rollback.add_argument("model", help="the model whose champion to roll back, e.g. churn")
    rollback.add_argument(
        "--to-version",
        metavar="VERSION",
        help="make this earlier champion the champion again (default: the previous one)",
    )
    rollback.set_defaults(func=cmd_rollback)
    override = add_verb(
        verbs,
        groups,
        "override",
        "sign and send a command: force an outcome on a model version",
        "  orchestrator override churn:v3 --outcome promote --actor alice --reason 'signed off'",
        ALL_FLAGS,
    )
    override.add_argument("subject", help="MODEL:VERSION, e.g. churn:v3")
    override.add_argument(
        "--outcome",
        choices=["promote", "reject"],
        required=True,
        help="promote (it becomes champion) or reject",
    )
    override.set_defaults(func=cmd_override)
    for cmd in (rollback, override):
        cmd.add_argument("--actor", required=True, help=_COMMAND_FLAGS_HELP["--actor"])
        cmd.add_argument("--reason", required=True, help=_COMMAND_FLAGS_HELP["--reason"])
        cmd.add_argument(
            "--key-file", type=Path, help="HMAC key file (default: what gates/access.yaml names)"
        )
        cmd.add_argument(
            "--event-id",
            help="idempotency key: a resend with it is not applied twice (default: a random one)",
        )


def _add_simulate(verbs: Any, groups: dict[str, argparse.ArgumentParser]) -> None:
    sim = add_verb(
        verbs,
        groups,
        "simulate",
        "a seeded realistic stream: JSON lines, or --send",
        "  orchestrator simulate --example-keys > stream.jsonl\n"
        "  orchestrator simulate --send --rate 200 --example-keys",
        ALL_FLAGS,
    )
    sim.add_argument(
        "--seed",
        type=int,
        default=7,
        help="random seed: the same seed, the same stream (default 7)",
    )
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


def _add_acls(verbs: Any, groups: dict[str, argparse.ArgumentParser]) -> None:
    acls = add_verb(
        verbs,
        groups,
        "acls",
        "the least-privilege Kafka ACLs of each role (worker, producer, operator, auditor, "
        "trainer, admin); --apply creates them",
        "  orchestrator acls                                   # print them\n"
        "  orchestrator acls --principal worker=User:svc-orch --apply",
        SETTINGS_BROKER_TOPICS,
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
