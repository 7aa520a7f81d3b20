"""`rollback` / `override` CLI: clear errors before anything is sent; signatures verify."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.commands import CommandError, actor_key, build_override, build_rollback
from orchestrator.core.access import sign
from orchestrator.errors import ConfigError
from orchestrator.policies import Policies
from tests.conftest import ROOT, run_cli

BROKER = ["--broker", "127.0.0.1:1"]  # never reached: every case fails before sending


def test_unknown_model_is_an_error() -> None:
    """An unknown model exits non-zero and names it."""
    out = run_cli(
        "rollback",
        "nope",
        "--actor",
        "alice",
        "--reason",
        "x",
        *BROKER,
        env={"ORCHESTRATOR_KEY_ALICE": "example-key-for-tests"},
    )
    assert out.returncode == 1 and "unknown model 'nope'" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_missing_key_is_an_error() -> None:
    """No key for the actor: the message says which variable to set."""
    out = run_cli(
        "rollback",
        "churn",
        "--actor",
        "alice",
        "--reason",
        "x",
        *BROKER,
        env={"ORCHESTRATOR_KEY_ALICE": ""},
    )
    assert out.returncode == 2 and "ORCHESTRATOR_KEY_ALICE" in out.stderr  # configuration
    assert len(out.stderr.strip().splitlines()) == 1


def test_bad_override_subject_is_an_error() -> None:
    """An override subject must be MODEL:VERSION."""
    out = run_cli(
        "override",
        "churn",
        "--outcome",
        "promote",
        "--actor",
        "alice",
        "--reason",
        "x",
        *BROKER,
        env={"ORCHESTRATOR_KEY_ALICE": "example-key-for-tests"},
    )
    assert out.returncode == 1 and "MODEL:VERSION" in out.stderr


def test_built_commands_verify_with_the_key(tmp_path: Path) -> None:
    """What the CLI builds carries a signature that verifies with the same key only."""
    policies = Policies.load(ROOT / "gates")
    key_file = tmp_path / "alice.key"
    key_file.write_text("example-key-for-tests\n")
    key_file.chmod(0o600)
    key = actor_key(policies, ROOT / "gates", "alice", {}, key_file)
    assert key == b"example-key-for-tests"
    cmd = build_rollback(policies, "churn", "alice", "why", key, to_version="v1")
    assert cmd.signature == sign(cmd, b"example-key-for-tests") != sign(cmd, b"other")
    ov = build_override(policies, "churn:v2", "reject", "alice", "why", key)
    assert ov.signature == sign(ov, key)
    with pytest.raises(CommandError):
        build_rollback(policies, "nope", "alice", "why", key)


@pytest.mark.parametrize(
    ("file", "change", "field"),
    [
        ("models/churn.yaml", {"datasets": ["nope"]}, "datasets"),
        (
            "models/churn.yaml",
            {"primary_metric": {"name": "auc", "direction": "up"}},
            "primary_metric.direction",
        ),
        ("models/churn.yaml", {"retrain_every": 0}, "retrain_every"),
        (
            "access.yaml",
            {"actors": {"eve": {"allow": [{"action": "rollback", "models": ["churn"]}]}}},
            "actors.eve",
        ),
        (
            "access.yaml",
            {
                "actors": {
                    "eve": {"key_env": "K", "allow": [{"action": "delete", "models": ["churn"]}]}
                }
            },
            "actors.eve.allow.0.action",
        ),
        (
            "access.yaml",
            {
                "actors": {
                    "eve": {"key_env": "K", "allow": [{"action": "rollback", "models": ["x"]}]}
                }
            },
            "actors.eve.allow.0.models",
        ),
    ],
)
def test_invalid_model_and_access_policies(
    tmp_path: Path, file: str, change: dict[str, object], field: str
) -> None:
    """Model and access policy errors name the file, the field and the reason."""
    import shutil

    gates = tmp_path / "gates"
    shutil.copytree(ROOT / "gates", gates)
    path = gates / file
    data = yaml.safe_load(path.read_text())
    data.update(change)
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        Policies.load(gates)
    assert info.value.field == field and file.rsplit("/", maxsplit=1)[-1] in info.value.file


@pytest.mark.parametrize(
    ("content", "mode", "reason"),
    [
        ("example-key-for-tests\n", 0o644, "readable by group or others (mode 644); chmod 600 it"),
        ("example-key-for-tests\n", 0o640, "readable by group or others (mode 640); chmod 600 it"),
        ("", 0o600, "is empty"),
        ("x\n", 0o600, "holds 1 bytes; a key needs at least 16"),
    ],
    ids=["world-readable", "group-readable", "empty", "short"],
)
def test_a_key_file_anyone_else_can_read_or_too_short_is_refused(
    tmp_path: Path, content: str, mode: int, reason: str
) -> None:
    """`rollback --key-file`: a key file group or others can read, an empty one, or a key
    shorter than 16 bytes is refused with one line naming the file and why; nothing is sent."""
    key_file = tmp_path / "alice.key"
    key_file.write_text(content)
    key_file.chmod(mode)
    out = run_cli(
        "rollback",
        "churn",
        "--actor",
        "alice",
        "--reason",
        "r",
        "--key-file",
        str(key_file),
        *BROKER,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == f"orchestrator: error: {key_file}: --key-file: {reason}"


def test_a_short_actor_key_in_the_environment_is_refused() -> None:
    """One-character actor keys are not keys: ORCHESTRATOR_KEY_ALICE=x is refused, named."""
    out = run_cli(
        "rollback",
        "churn",
        "--actor",
        "alice",
        "--reason",
        "r",
        *BROKER,
        env={"ORCHESTRATOR_KEY_ALICE": "x"},
    )
    assert out.returncode == 2
    assert "(environment): ORCHESTRATOR_KEY_ALICE: the key has 1 bytes" in out.stderr
