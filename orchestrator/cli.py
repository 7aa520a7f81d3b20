"""The `orchestrator` command line. Builds Settings once and passes it down."""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import TYPE_CHECKING, Any

from orchestrator.cli_args import EXIT_CONFIG, EXIT_INVALID, err, normalize
from orchestrator.errors import (
    AuditRefused,
    BrokerError,
    ConfigError,
    InvariantViolation,
    OrchestratorError,
)

if TYPE_CHECKING:
    from orchestrator.settings import Settings

_SETTING_FLAGS = (
    ("broker", "broker"),
    ("gates", "gates_dir"),
    ("topics", "topics_dir"),
    ("log_level", "log_level"),
    ("web_host", "web_host"),
    ("web_port", "web_port"),
    ("processing_guarantee", "processing_guarantee"),
    ("record_time", "record_time"),
    ("replication", "topic_replication"),
    ("min_insync_replicas", "topic_min_insync_replicas"),
)


def _settings(args: argparse.Namespace) -> Settings:
    """Flags over environment over the config file (see orchestrator/settings.py). A
    ConfigError names every invalid setting and where it came from."""
    import os

    from pydantic import ValidationError

    from orchestrator.errors import ConfigProblem
    from orchestrator.settings import Settings, config_file_path

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


def main(argv: list[str] | None = None) -> int:
    """Run one verb. Every expected failure is one line on stderr and an exit code (README,
    CLI): 1 invalid input, 2 configuration, broker or command line; --debug adds the traceback."""
    from orchestrator.audit.fast import main as fast_main

    given = normalize(sys.argv[1:] if argv is None else argv)
    fast = fast_main(given)  # a query from the audit index: answered without the rest
    if fast is not None:
        return fast
    import ssl

    from aiokafka.errors import KafkaError

    from orchestrator.cli_parser import build_parser
    from orchestrator.kafka.diagnose import explain, quiet_client_logs

    parser = build_parser()
    args = parser.parse_args(given)
    args.given_argv = given  # `worker --processes N` starts its processes with the same line
    debug = getattr(args, "debug", False)
    broker = "(settings)"

    def fail(code: int, *lines: str) -> int:
        if debug:
            traceback.print_exc()
        for line in lines:
            err(line)
        return code

    try:
        settings = _settings(args)
        broker = "the embedded broker" if settings.is_embedded else settings.broker
        from orchestrator.logging import configure

        configure(settings.log_level, settings.log_format)
        if args.verb != "worker":
            quiet_client_logs()
        result: int = args.func(settings, args)
    except (KafkaError, ssl.SSLError) as exc:
        return fail(EXIT_CONFIG, f"broker {broker}: {explain(exc)}")
    except ConfigError as exc:
        return fail(EXIT_CONFIG, *(str(p) for p in exc.problems))
    except BrokerError as exc:
        return fail(EXIT_CONFIG, str(exc))
    except InvariantViolation:  # our bug: crash loudly, traceback and all
        raise
    except AuditRefused as exc:  # no right answer can be given: said, with what to do
        return fail(EXIT_CONFIG, str(exc))
    except OrchestratorError as exc:
        return fail(EXIT_INVALID, str(exc))
    except OSError as exc:  # a file or directory that cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        return fail(EXIT_CONFIG, f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        return 130
    else:
        return result
