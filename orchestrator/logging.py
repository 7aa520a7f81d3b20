"""structlog set-up: one JSON object per line for machines, readable console output on a TTY.

Our own log calls and the standard library's records (Faust, mode, aiokafka) go through the
same processors: the stdlib root handler formats with structlog's `ProcessorFormatter`, so a
library warning is a JSON line like ours, with the same process fields (worker id, host, app
id) bound, secrets redacted and long values cut."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

_SECRET_KEYS = frozenset({"signature", "key", "secret", "password", "token"})

#: the longest field value written whole (characters); longer ones are cut with a marker
MAX_FIELD_CHARS = 1000
#: fields never cut: a traceback is read whole
_UNCUT = frozenset({"exception"})

#: fields bound once for the whole process (`bind_process`), on every line of every thread
_PROCESS_FIELDS: dict[str, Any] = {}


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for k in list(event_dict):
        if k in _SECRET_KEYS:
            event_dict[k] = "[redacted]"
    return event_dict


def cut_value(value: str, limit: int = MAX_FIELD_CHARS) -> str:
    """`value` if it fits in `limit` characters; else its head and a marker saying how much went."""
    if len(value) <= limit:
        return value
    return f"{value[:limit]}...[cut {len(value) - limit} of {len(value)} chars]"


def _cut_long_values(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Bound every line: a string field (a 10k-character event id, say) is cut to
    MAX_FIELD_CHARS; any other value whose text is longer is replaced by its cut repr."""
    for k, v in list(event_dict.items()):
        if k in _UNCUT or k.startswith("_") or v is None or isinstance(v, bool | int | float):
            continue
        if isinstance(v, str):
            event_dict[k] = cut_value(v)
        elif len(text := repr(v)) > MAX_FIELD_CHARS:
            event_dict[k] = cut_value(text)
    return event_dict


def _add_process_fields(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for k, v in _PROCESS_FIELDS.items():
        event_dict.setdefault(k, v)
    return event_dict


def bind_process(**fields: Any) -> None:
    """Bind `fields` to every log line of this process from now on (threads included)."""
    _PROCESS_FIELDS.update(fields)


def use_console(fmt: str, stream: TextIO) -> bool:
    """Human-readable output only on a terminal (or when asked); JSON lines otherwise."""
    return fmt == "console" or (fmt == "auto" and stream.isatty())


def shared_processors() -> list[structlog.types.Processor]:
    """What every line goes through, ours and the standard library's, before rendering."""
    return [
        structlog.contextvars.merge_contextvars,
        _add_process_fields,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
        structlog.processors.format_exc_info,
        _cut_long_values,
    ]


def _renderer(console: bool) -> structlog.types.Processor:
    if console:
        return structlog.dev.ConsoleRenderer()
    return structlog.processors.JSONRenderer()


def stdlib_formatter(console: bool) -> logging.Formatter:
    """Formats a standard library record through the shared processors: one JSON object per
    record (or a console line), with the logger's name and the record's own message."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            *shared_processors(),
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _renderer(console)],
    )


def configure(
    level: str = "info", fmt: str = "auto", *, bound: Mapping[str, Any] | None = None
) -> None:
    """Configure structlog and the stdlib root logger once, from settings. Library records are
    kept at warning and above (their info lines are noise to an operator)."""
    stream = sys.stderr
    console = use_console(fmt, stream)
    if bound:
        bind_process(**bound)
    lvl = getattr(logging, level.upper())
    structlog.configure(
        processors=[*shared_processors(), _renderer(console)],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(stdlib_formatter(console))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(max(lvl, logging.WARNING))
