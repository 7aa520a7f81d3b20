"""What every verb's parser shares: usage errors in one line, the groups of flags a verb picks
from (so its --help lists only what it uses), examples in the epilog, and time arguments."""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from orchestrator.core.timeutil import TIME_FORMS, format_rfc3339_ms, parse_time_ms

#: the flags that take a time; `--at -1h` is joined into `--at=-1h` before parsing
#: exit codes (README, CLI): 1 invalid input, 2 configuration, broker or command line
EXIT_OK, EXIT_INVALID, EXIT_CONFIG = 0, 1, 2

TIME_FLAGS = ("--at", "--since", "--until")
#: the accepted forms, as the core's parser states them
TIME_HELP = TIME_FORMS


class Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line (exit 2), and whose epilog (the
    examples) keeps its line breaks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: None = None
    ) -> argparse.Namespace:
        """As argparse, but an unknown argument is reported by the verb it was given to."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            prog = getattr(parsed, "verb_prog", self.prog)
            self.exit(
                2,
                f"{prog}: error: unrecognized arguments: {' '.join(extras)} (see {prog} --help)\n",
            )
        return parsed


def err(message: str) -> None:
    """One line on stderr: how every expected failure is told."""
    print(f"orchestrator: error: {message}", file=sys.stderr)


def flag_groups() -> dict[str, argparse.ArgumentParser]:
    """Parent parsers by name: `debug` (every verb), `settings`, `broker`, `topics`, `gates`.
    Defaults are SUPPRESS so that a flag given before the verb is not reset by the verb."""

    def group() -> argparse.ArgumentParser:
        return argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)

    debug = group()
    debug.add_argument(
        "--debug",
        action="store_true",
        help="on an error, show the Python traceback as well as the one-line message",
    )
    settings = group()
    settings.add_argument(
        "--config",
        type=Path,
        help="settings file (default ./orchestrator.toml if present; env ORCHESTRATOR_CONFIG)",
    )
    settings.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="log level (default info; env ORCHESTRATOR_LOG_LEVEL)",
    )
    broker = group()
    broker.add_argument(
        "--broker",
        metavar="HOST:PORT[,HOST:PORT]",
        help="Kafka bootstrap servers, or 'embedded': the broker `orchestrator dev` keeps "
        "running (default; env ORCHESTRATOR_BROKER)",
    )
    topics = group()
    topics.add_argument(
        "--topics", type=Path, metavar="DIR", help="topic catalog directory (default ./topics)"
    )
    gates = group()
    gates.add_argument(
        "--gates",
        type=Path,
        metavar="DIR",
        help="dataset, model and access policies directory (default ./gates)",
    )
    return {
        "debug": debug,
        "settings": settings,
        "broker": broker,
        "topics": topics,
        "gates": gates,
    }


def add_verb(
    verbs: argparse._SubParsersAction,  # type: ignore[type-arg]
    groups: dict[str, argparse.ArgumentParser],
    name: str,
    helptext: str,
    examples: str,
    uses: Sequence[str] = (),
) -> argparse.ArgumentParser:
    """A verb (or a verb's action) with its help, its examples and only the flag groups it uses."""
    parser: argparse.ArgumentParser = verbs.add_parser(
        name,
        help=helptext,
        description=helptext[0].upper() + helptext[1:] + ".",
        epilog="examples:\n" + examples.strip("\n"),
        parents=[groups["debug"], *(groups[u] for u in uses)],
    )
    parser.set_defaults(verb_prog=parser.prog)
    return parser


def time_arg(now_ms: Callable[[], int]) -> Callable[[str], str]:
    """An argparse `type` for a time: any form `parse_time_ms` accepts, as RFC 3339 UTC (so
    that what the verb prints is the time it used). `now_ms` is the wall clock."""

    def parse(text: str) -> str:
        try:
            return format_rfc3339_ms(parse_time_ms(text, now_ms()))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


_STARTS_LIKE_A_FLAG = re.compile(r"^-\d")
#: the shared flags that take a value; given before the verb they are moved after it
SHARED_FLAGS = ("--broker", "--topics", "--gates", "--config", "--log-level")


def normalize(argv: Sequence[str]) -> list[str]:
    """The command line as the parser wants it: shared flags given before the verb moved after
    it (`orchestrator --broker B topics apply`: the verb's parser checks that it takes them),
    and `--since -1h` joined as `--since=-1h` (argparse takes `-1h` for a flag)."""
    rest, leading = list(argv), []
    while rest and rest[0].split("=", 1)[0] in (*SHARED_FLAGS, "--debug"):
        take = 1 if "=" in rest[0] or rest[0] == "--debug" or len(rest) == 1 else 2
        leading += rest[:take]
        rest = rest[take:]
    return join_time_values(rest + leading)


def join_time_values(argv: Sequence[str]) -> list[str]:
    """`--since -1h` as `--since=-1h`: argparse takes a value starting with '-' for a flag."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in TIME_FLAGS and i + 1 < len(argv) and _STARTS_LIKE_A_FLAG.match(argv[i + 1]):
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out
