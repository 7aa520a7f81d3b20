"""A query from the audit index without the rest of the CLI.

`orchestrator audit history|lineage|champion ... --no-refresh` starts, opens the index file,
looks up and exits, importing SQLite, orjson and the pure queries only (not pydantic, aiokafka,
Faust or DuckDB): the audit verbs' fast start-up path, measured by `make bench`. Anything it does
not handle (a config file, `--scan`, `--debug`, an option it does not know, a topic catalog it
cannot read plainly, no index file) returns None and the full CLI answers instead, the same way,
only slower."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

VERBS = ("history", "lineage", "champion")
_KEY = re.compile(r"^(role|name):\s*['\"]?([A-Za-z0-9._-]+)['\"]?\s*(?:#.*)?$")


class _Fallback(Exception):
    """Leave this command line to the full CLI."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _Fallback(message)


def _topics(directory: Path) -> dict[str, str]:
    """role -> topic name from the catalog's files, read as plain `key: value` lines."""
    out: dict[str, str] = {}
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not files:
        raise _Fallback("no catalog")
    for path in files:
        found = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            m = _KEY.match(line)
            if m:
                found[m.group(1)] = m.group(2)
        if "role" not in found or "name" not in found or found["role"] in out:
            raise _Fallback(f"{path}: not a plain catalog file")
        out[found["role"]] = found["name"]
    return out


def _args(argv: list[str]) -> argparse.Namespace:
    p = _Parser(add_help=False)
    p.add_argument("verb", choices=["audit"])
    p.add_argument("audit_verb", choices=VERBS)
    p.add_argument("first")
    p.add_argument("second", nargs="?")
    p.add_argument("--at")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-refresh", action="store_true", required=True)
    p.add_argument("--index")
    p.add_argument("--topics")
    p.add_argument("--broker")
    p.add_argument("--log-level")
    args = p.parse_args(argv)
    verb = args.audit_verb
    if (verb != "lineage" and args.second is not None) or (verb == "champion") != bool(args.at):
        raise _Fallback("arguments")
    if verb == "champion":
        args.model = args.first
    else:
        args.subject, args.version = args.first, args.second
    return args


def main(argv: list[str]) -> int | None:
    """Answer the query and return its exit code, or None for the full CLI to answer."""
    if not argv or argv[0] != "audit" or "--no-refresh" not in argv:
        return None
    if os.environ.get("ORCHESTRATOR_CONFIG") or Path("orchestrator.toml").is_file():
        return None  # settings from a file: the full CLI reads them
    try:
        args = _args(argv)
        if args.audit_verb == "champion":
            from orchestrator.cli_args import time_arg, wall_clock_ms

            try:
                args.at = time_arg(wall_clock_ms)(args.at)
            except argparse.ArgumentTypeError as exc:
                raise _Fallback(str(exc)) from None
        topics_dir = Path(args.topics or os.environ.get("ORCHESTRATOR_TOPICS_DIR") or "topics")
        topics = _topics(topics_dir)
        index = args.index or os.environ.get("ORCHESTRATOR_AUDIT_INDEX")
        if index is None:
            state = Path(os.environ.get("ORCHESTRATOR_STATE_DIR") or ".run/state")
            index = str(state.parent / f"audit-{topics['audit']}.sqlite")
        path = Path(index)
        if not path.is_file():
            return None
    except (_Fallback, OSError, KeyError):
        return None
    from orchestrator.audit import run_query
    from orchestrator.audit.store import IndexStore
    from orchestrator.errors import AuditRefused, UnknownSubject

    try:
        store = IndexStore(path, topics, read_only=True)
        try:
            return run_query(store, args, f"the index {path}, not refreshed")
        finally:
            store.close()
    except UnknownSubject as exc:
        print(f"orchestrator: error: {exc}", file=sys.stderr)
        return 1
    except AuditRefused as exc:
        print(f"orchestrator: error: {exc}", file=sys.stderr)
        return 2
