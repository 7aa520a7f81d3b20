"""Log lines: secrets redacted, long values cut, library records rendered as our JSON lines."""

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest
import structlog

from orchestrator import logging as logs
from orchestrator.logging import (
    MAX_FIELD_CHARS,
    _cut_long_values,
    _redact,
    bind_process,
    configure,
    cut_value,
    stdlib_formatter,
    use_console,
)


@pytest.mark.parametrize("field", ["signature", "key", "secret", "password", "token"])
def test_secret_fields_are_redacted(field: str) -> None:
    """signature, key, secret, password and token never reach the output; other fields do."""
    out = _redact(None, "info", {"event": "x", field: "s3cr3t", "event_id": "e1"})
    assert out[field] == "[redacted]"
    assert out["event_id"] == "e1" and out["event"] == "x"


@pytest.fixture
def process_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fields bound by one test stay with it."""
    monkeypatch.setattr(logs, "_PROCESS_FIELDS", {})


@pytest.fixture
def configured(process_fields: None) -> Iterator[None]:
    """`configure` replaces the root logger's handlers and structlog's set-up: put them back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()


def test_a_long_field_is_cut_with_a_marker() -> None:
    """A 10k-character value keeps its first MAX_FIELD_CHARS characters and says how much went."""
    out = _cut_long_values(None, "info", {"event": "x", "event_id": "e" * 10_000, "n": 10**30})
    assert out["event_id"] == "e" * MAX_FIELD_CHARS + "...[cut 9000 of 10000 chars]"
    assert out["n"] == 10**30 and out["event"] == "x"
    assert cut_value("e" * MAX_FIELD_CHARS) == "e" * MAX_FIELD_CHARS


def test_a_long_structure_is_cut_as_text() -> None:
    """A list or dict whose text is too long becomes its cut text; a short one stays as it is."""
    out = _cut_long_values(None, "info", {"ids": list(range(1000)), "few": [1, 2]})
    assert out["ids"].startswith("[0, 1, 2") and out["ids"].endswith(" chars]")
    assert out["few"] == [1, 2]


def test_a_library_record_becomes_one_json_object_with_the_bound_fields(
    process_fields: None,
) -> None:
    """A stdlib record (mode.timers, aiokafka) is rendered by the shared processors: JSON with
    its logger, level, message, the process's bound fields, secrets redacted, long values cut."""
    bind_process(worker_id="h:1", host="h", app_id="app")
    record = logging.LogRecord(
        "mode.timers", logging.WARNING, __file__, 1, "Timer %s woke up too late", ("t",), None
    )
    record.token = "s3cr3t"
    out = json.loads(stdlib_formatter(console=False).format(record))
    assert {k: out[k] for k in ("event", "logger", "level", "worker_id", "host", "app_id")} == {
        "event": "Timer t woke up too late",
        "logger": "mode.timers",
        "level": "warning",
        "worker_id": "h:1",
        "host": "h",
        "app_id": "app",
    }
    assert out["token"] == "[redacted]" and "timestamp" in out


def test_a_library_exception_is_one_json_object_with_its_traceback() -> None:
    """A record with exc_info stays one line: the traceback is a field, not lines of text."""
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord(
            "aiokafka", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    text = stdlib_formatter(console=False).format(record)
    assert "\n" not in text
    out = json.loads(text)
    assert out["event"] == "failed" and "RuntimeError: boom" in out["exception"]


def test_configure_routes_every_line_to_stderr_as_json(
    configured: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """After configure (stderr not a TTY), our lines and library warnings are JSON objects, each
    with the fields bound for the process; library info lines are left out."""
    configure("info", "auto", bound={"worker_id": "h:1", "host": "h", "app_id": "app"})
    structlog.get_logger("orchestrator.test").info("ours", event_id="e" * 5000)
    logging.getLogger("mode.timers").warning("Timer %s woke up too late", "t")
    logging.getLogger("aiokafka").info("chatter")
    lines = capsys.readouterr().err.splitlines()
    objs = [json.loads(line) for line in lines]
    assert [o["event"] for o in objs] == ["ours", "Timer t woke up too late"]
    assert all((o["worker_id"], o["host"], o["app_id"]) == ("h:1", "h", "app") for o in objs)
    assert objs[0]["event_id"] == "e" * MAX_FIELD_CHARS + "...[cut 4000 of 5000 chars]"


def test_human_readable_on_a_tty_only() -> None:
    """auto: console rendering on a terminal, JSON otherwise; json/console force one."""

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert use_console("auto", Tty()) and not use_console("auto", io.StringIO())
    assert use_console("console", io.StringIO()) and not use_console("json", Tty())
    record = logging.LogRecord("aiokafka", logging.WARNING, __file__, 1, "hello", (), None)
    text = stdlib_formatter(console=True).format(record)
    assert "hello" in text and not text.startswith("{")
