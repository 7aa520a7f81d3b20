"""`rollback` / `override` CLI: clear errors before anything is sent; signatures verify."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.commands import actor_key, build_override, build_rollback
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
        env={"ORCHESTRATOR_KEY_ALICE": "example"},
    )
    assert out.returncode == 2 and "unknown model 'nope'" in out.stderr


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
    assert out.returncode == 1 and "ORCHESTRATOR_KEY_ALICE" in out.stderr


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
        env={"ORCHESTRATOR_KEY_ALICE": "example"},
    )
    assert out.returncode == 1 and "MODEL:VERSION" in out.stderr


def test_built_commands_verify_with_the_key(tmp_path: Path) -> None:
    """What the CLI builds carries a signature that verifies with the same key only."""
    policies = Policies.load(ROOT / "gates")
    key_file = tmp_path / "alice.key"
    key_file.write_text("example-key\n")
    key = actor_key(policies, ROOT / "gates", "alice", {}, key_file)
    assert key == b"example-key"
    cmd = build_rollback(policies, "churn", "alice", "why", key, to_version="v1")
    assert cmd.signature == sign(cmd, b"example-key") != sign(cmd, b"other")
    ov = build_override(policies, "churn:v2", "reject", "alice", "why", key)
    assert ov.signature == sign(ov, key)
    with pytest.raises(ConfigError):
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
    assert info.value.field == field and file.split("/")[-1] in info.value.file
