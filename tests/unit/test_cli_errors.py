"""The CLI's error boundary: every expected failure is one line on stderr naming what to fix,
with the README's exit code (2: configuration, broker, command line); --debug adds the
traceback."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from orchestrator.cli import main
from orchestrator.core.timeutil import TIME_FORMS
from tests.conftest import ROOT, make_catalog

TOPICS = ["--topics", str(ROOT / "topics")]
GATES = ["--gates", str(ROOT / "gates")]
REFUSED = (
    "orchestrator: error: broker 127.0.0.1:1: cannot connect: connection refused "
    "([Errno 111] Connect call failed ('127.0.0.1', 1)): is Kafka running there? "
    "check --broker (or ORCHESTRATOR_BROKER)"
)
# the resolver's own words differ by machine (no DNS at all: "Temporary failure in name
# resolution"); the rest of the line is exact
UNRESOLVED = re.compile(
    re.escape("orchestrator: error: broker no-such-host.invalid:9092: cannot connect: host not ")
    + r"found \(\[Errno -\d+\] [^()]+\): "
    + re.escape("check --broker (or ORCHESTRATOR_BROKER)")
)
GARBAGE = (
    "orchestrator: error: (command line): --broker: '::::' is not HOST:PORT "
    "(e.g. 127.0.0.1:9092, [::1]:9092; several separated by commas) or 'embedded'"
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    """Exit code and stderr lines of `orchestrator ARGV`, run in this process."""
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    return code, capsys.readouterr().err.splitlines()


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "e.jsonl"
    path.write_text(
        '{"type": "data.arrival", "v": 1, "event_id": "e1", "dataset": "clicks", "source": "eu",'
        ' "uri": "s3://b/k", "event_time": "2026-11-23T10:00:00Z", "record_count": 1,'
        ' "checksum": "sha256:1"}\n'
    )
    return path


@pytest.mark.parametrize(
    ("broker", "line"),
    [
        ("127.0.0.1:1", re.compile(re.escape(REFUSED))),
        ("no-such-host.invalid:9092", UNRESOLVED),
        ("::::", re.compile(re.escape(GARBAGE))),
    ],
)
@pytest.mark.parametrize(
    "verb",
    [
        ["topics", "apply", *TOPICS],
        ["produce", "EVENTS", *TOPICS],
        ["audit", "history", "clicks/2026-11-23T10:00:00Z/PT1H", "--scan", *TOPICS],
        ["audit", "champion", "churn", "--at", "now", "--scan", *TOPICS],
        ["worker", "--web-port", "0", *TOPICS, *GATES],
    ],
    ids=["topics-apply", "produce", "audit-history", "audit-champion", "worker"],
)
def test_a_broker_that_cannot_be_used_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
    events: Path,
    verb: list[str],
    broker: str,
    line: re.Pattern[str],
) -> None:
    """Unreachable, unresolvable and garbage broker addresses: the message says what to check."""
    argv = [str(events) if a == "EVENTS" else a for a in verb]
    code, err = run(capsys, *argv, "--broker", broker)
    assert code == 2 and len(err) == 1 and line.fullmatch(err[0]), err


def test_a_garbage_broker_from_the_environment_names_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad ORCHESTRATOR_BROKER is named as such, not as a flag."""
    monkeypatch.setenv("ORCHESTRATOR_BROKER", "kafka:0")
    assert run(capsys, "topics", "apply", *TOPICS) == (
        2,
        [
            "orchestrator: error: (environment): ORCHESTRATOR_BROKER: 'kafka:0' is not HOST:PORT "
            "(e.g. 127.0.0.1:9092, [::1]:9092; several separated by commas) or 'embedded'"
        ],
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_web_port_in_use_is_one_line_before_the_broker(
    capsys: pytest.CaptureFixture[str], busy_port: int
) -> None:
    """The worker says the port is taken before it connects to anything."""
    code, err = run(
        capsys, "worker", "--broker", "127.0.0.1:1", "--web-port", str(busy_port), *TOPICS, *GATES
    )
    assert (code, err) == (
        2,
        [
            f"orchestrator: error: settings: web_port: 127.0.0.1:{busy_port} is already in use "
            "(another worker?): stop what listens there or choose another port "
            "(--web-port, ORCHESTRATOR_WEB_PORT)"
        ],
    )


@pytest.mark.parametrize(
    ("port", "reason"),
    [("70000", "less than or equal to 65535"), ("-5", "greater than or equal to 0")],
)
def test_a_web_port_out_of_range_is_one_line(
    capsys: pytest.CaptureFixture[str], port: str, reason: str
) -> None:
    """A port number that cannot be is refused as a setting, naming the flag."""
    assert run(capsys, "worker", "--web-port", port, *TOPICS, *GATES) == (
        2,
        [f"orchestrator: error: (command line): --web-port: Input should be {reason}"],
    )


def test_a_web_host_that_does_not_resolve_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """--web-host must be an address this machine can listen on."""
    code, err = run(
        capsys, "worker", "--broker", "127.0.0.1:1", "--web-host", "no-such-host.invalid",
        *TOPICS, *GATES,
    )  # fmt: skip
    said = re.escape(
        "orchestrator: error: settings: web_host: 'no-such-host.invalid' is not an address "
        "to listen on ("
    )
    assert code == 2 and len(err) == 1 and re.fullmatch(said + r"[^()]+\)", err[0]), err


def test_debug_shows_the_traceback_and_still_the_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--debug (anywhere on the line) prints the traceback, then the same line and exit code."""
    for argv in (
        ["--debug", "topics", "apply", "--broker", "127.0.0.1:1", *TOPICS],
        ["topics", "apply", "--broker", "127.0.0.1:1", *TOPICS, "--debug"],
    ):
        code, err = run(capsys, *argv)
        assert code == 2
        assert err[0] == "Traceback (most recent call last):"
        assert any("KafkaConnectionError" in line for line in err)
        assert err[-1] == REFUSED


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["audit", "champion", "churn", "--at", "yesterday"],
            "orchestrator audit champion: error: argument --at: 'yesterday' is not a time: use "
            f"{TIME_FORMS} (see orchestrator audit champion --help)",
        ),
        (
            ["replay", "--since", "2026-11-25T10:00:00"],
            "orchestrator replay: error: argument --since: '2026-11-25T10:00:00' has no UTC "
            "offset: add Z (UTC) or +HH:MM (see orchestrator replay --help)",
        ),
        (
            ["replay", "--until", "2026-11-31"],
            "orchestrator replay: error: argument --until: '2026-11-31' is not a valid date or "
            "time (day is out of range for month) (see orchestrator replay --help)",
        ),
        (
            ["audit", "champion", "churn"],
            "orchestrator audit champion: error: the following arguments are required: --at "
            "(see orchestrator audit champion --help)",
        ),
        (
            ["schema", "export", "out", "--broker", "127.0.0.1:1"],
            "orchestrator schema export: error: unrecognized arguments: --broker 127.0.0.1:1 "
            "(see orchestrator schema export --help)",
        ),
        (
            ["dev", "--broker", "127.0.0.1:1"],
            "orchestrator dev: error: unrecognized arguments: --broker 127.0.0.1:1 "
            "(see orchestrator dev --help)",
        ),
        (
            ["--broker", "127.0.0.1:1", "schema", "export", "out"],
            "orchestrator schema export: error: unrecognized arguments: --broker 127.0.0.1:1 "
            "(see orchestrator schema export --help)",
        ),
    ],
)
def test_a_bad_command_line_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], line: str
) -> None:
    """Usage errors (a bad time, a missing or unknown flag) are one line, no usage block."""
    assert run(capsys, *argv) == (2, [line])


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["--since", "2026-11-26", "--until", "2026-11-25"],
            "orchestrator: error: (command line): --since: 2026-11-26T00:00:00Z is after "
            "--until 2026-11-25T00:00:00Z",
        ),
        (
            ["--from-offset", "x"],
            "orchestrator: error: (command line): range: --from-offset 'x': expected "
            "PARTITION:OFFSET, e.g. 0:120",
        ),
        (
            ["--processes", "0"],
            "orchestrator: error: (command line): --processes: must be 1 or more, not 0",
        ),
    ],
)
def test_a_replay_range_that_cannot_be_is_one_line_before_the_broker(
    capsys: pytest.CaptureFixture[str], argv: list[str], line: str
) -> None:
    """Range errors are said before replay connects (the broker here is unreachable)."""
    assert run(capsys, "replay", *argv, "--broker", "127.0.0.1:1", *TOPICS, *GATES) == (
        2,
        [line],
    )


def test_a_catalog_file_with_two_problems_reports_both(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Every problem of a file, one per line, each naming file, field and reason."""
    topics = make_catalog(tmp_path / "topics", "x")
    path = topics / "dlq.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(partitions=0, cleanup_policy="shred")
    del data["key"]
    path.write_text(yaml.safe_dump(data))
    code, err = run(capsys, "topics", "apply", "--broker", "127.0.0.1:1", "--topics", str(topics))
    assert (code, err) == (
        2,
        [
            f"orchestrator: error: {path}: partitions: Input should be greater than or equal to 1",
            f"orchestrator: error: {path}: cleanup_policy: Input should be 'delete', 'compact' "
            "or 'compact,delete'",
            f"orchestrator: error: {path}: key: Field required",
        ],
    )


def test_problems_in_several_policy_files_are_all_reported(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A dataset policy missing a field and with a bad window, and an access policy with an
    actor without a key: all at once."""
    gates = tmp_path / "gates"
    (gates / "datasets").mkdir(parents=True)
    clicks = yaml.safe_load((ROOT / "gates/datasets/clicks.yaml").read_text())
    del clicks["out_of_orderness"]
    clicks["window"] = "P1M"
    (gates / "datasets/clicks.yaml").write_text(yaml.safe_dump(clicks))
    (gates / "access.yaml").write_text("kind: access\nversion: 1\nactors: {bob: {}}\n")
    code, err = run(capsys, "replay", "--broker", "127.0.0.1:1", *TOPICS, "--gates", str(gates))
    clicks_path, access_path = gates / "datasets/clicks.yaml", gates / "access.yaml"
    assert (code, err) == (
        2,
        [
            f"orchestrator: error: {clicks_path}: window: 'P1M' is not an ISO 8601 duration of "
            "days/hours/minutes/seconds (e.g. PT1H30M)",
            f"orchestrator: error: {clicks_path}: out_of_orderness: Field required",
            f"orchestrator: error: {access_path}: actors.bob: set exactly one of key_env or "
            "key_file",
        ],
    )


def test_a_settings_file_with_two_problems_reports_both(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """orchestrator.toml: each invalid setting on its own line, naming the file."""
    config = tmp_path / "orchestrator.toml"
    config.write_text('web_port = "high"\nlog_format = "xml"\n')
    code, err = run(capsys, "topics", "apply", *TOPICS, "--config", str(config))
    assert (code, err) == (
        2,
        [
            f"orchestrator: error: {config}: web_port: Input should be a valid integer, unable "
            "to parse string as an integer",
            f"orchestrator: error: {config}: log_format: Input should be 'auto', 'json' or "
            "'console'",
        ],
    )


def test_a_produce_file_that_cannot_be_read_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A missing input file is named, exit 2."""
    missing = tmp_path / "nope.jsonl"
    assert run(capsys, "produce", str(missing), "--broker", "127.0.0.1:1", *TOPICS) == (
        2,
        [f"orchestrator: error: {missing}: No such file or directory"],
    )


def test_a_schema_directory_that_cannot_be_written_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An OSError on a file the user named is reported with that file, exit 2."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, err = run(capsys, "schema", "export", str(blocker / "schemas"))
    assert (code, err) == (2, [f"orchestrator: error: {blocker / 'schemas'}: Not a directory"])


def test_an_audit_export_that_cannot_be_written_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`audit export --out` into a directory that does not exist: the file and why, exit 2."""
    from orchestrator.audit.index import AuditIndex
    from orchestrator.catalog.topics import Catalog

    index = tmp_path / "audit.sqlite"
    AuditIndex(index, Catalog.load(ROOT / "topics")).close()
    out = tmp_path / "missing" / "x.parquet"
    code, err = run(capsys, "audit", "export", "--out", str(out), "--index", str(index), *TOPICS)
    assert (code, err) == (
        2,
        [f"orchestrator: error: {out}: --out: no such directory: {out.parent}"],
    )
    unsaid = tmp_path / "x.txt"  # a format the name does not say is never guessed
    code, err = run(capsys, "audit", "export", "--out", str(unsaid), "--index", str(index), *TOPICS)
    assert code == 2 and len(err) == 1 and "--out: no format for .txt" in err[0], err
    assert not unsaid.exists()
    for name, fmt in (("x.json", b"[\n\n]\n"), ("x.jsonl", b"")):
        code, err = run(
            capsys, "audit", "export", "--out", str(tmp_path / name), "--index", str(index), *TOPICS
        )
        assert code == 0 and (tmp_path / name).read_bytes() == fmt, err


def test_our_own_bug_is_not_dressed_as_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """An InvariantViolation escapes the boundary with its traceback (STYLE: crash loudly)."""
    from orchestrator import cli_parser
    from orchestrator.errors import InvariantViolation

    def broken(settings: object, args: object) -> int:
        raise InvariantViolation("a state the code promises never to reach")

    monkeypatch.setattr(cli_parser, "cmd_schema_export", broken)
    with pytest.raises(InvariantViolation):
        main(["schema", "export", "out"])
