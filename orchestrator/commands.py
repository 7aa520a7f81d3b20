"""`orchestrator rollback` / `orchestrator override`: build, sign and send operator commands."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.contracts.events import CommandOverride, CommandRollback
from orchestrator.core.access import signed
from orchestrator.errors import ConfigError, OrchestratorError
from orchestrator.policies import Policies
from orchestrator.secrets import MIN_KEY_BYTES, read_secret_file


class CommandError(OrchestratorError):
    """A command that cannot be built: unknown model or subject, no key."""


def actor_key(
    policies: Policies,
    gates_dir: Path,
    actor: str,
    environ: Mapping[str, str],
    key_file: Path | None,
) -> bytes:
    """The actor's HMAC key: --key-file, else the env var or file the access policy names."""
    if key_file is not None:  # refused like any key file: group/other-readable, empty, short
        return read_secret_file(key_file, "--key-file", min_bytes=MIN_KEY_BYTES)
    entry = policies.access.actors.get(actor)
    if entry is None:
        raise CommandError(
            f"actor {actor!r} is not in {gates_dir / 'access.yaml'}; pass --key-file to sign anyway"
        )
    keys = policies.access.resolve_keys(environ, gates_dir)
    if actor not in keys:  # a configuration problem (exit 2), not a bad argument
        where = ("(environment)", entry.key_env) if entry.key_env else (str(entry.key_file), "")
        raise ConfigError(
            where[0],
            where[1] or "(file)",
            f"no key for actor {actor!r}: set it (or pass --key-file)",
        )
    return keys[actor]


def _require_model(policies: Policies, model: str) -> None:
    """A model named on the command line must have a policy: like an unknown subject or actor,
    an invalid argument (exit 1)."""
    if model not in policies.models:
        known = ", ".join(sorted(policies.models))
        raise CommandError(f"unknown model {model!r}: no policy in gates/models (known: {known})")


def build_rollback(
    policies: Policies,
    model: str,
    actor: str,
    reason: str,
    key: bytes,
    to_version: str | None = None,
    event_id: str | None = None,
) -> CommandRollback:
    _require_model(policies, model)
    cmd = CommandRollback(
        event_id=event_id or f"rollback-{uuid.uuid4().hex}",
        issued_at=datetime.now(UTC),
        nonce=secrets.token_hex(16),
        model=model,
        actor=actor,
        reason=reason,
        signature="unsigned",
        to_version=to_version,
    )
    return signed(cmd, key)


def build_override(
    policies: Policies,
    subject: str,
    outcome: str,
    actor: str,
    reason: str,
    key: bytes,
    event_id: str | None = None,
) -> CommandOverride:
    model, sep, version = subject.partition(":")
    if not sep or not version:
        raise CommandError(f"subject {subject!r} must be MODEL:VERSION")
    _require_model(policies, model)
    cmd = CommandOverride(
        event_id=event_id or f"override-{uuid.uuid4().hex}",
        issued_at=datetime.now(UTC),
        nonce=secrets.token_hex(16),
        subject=subject,
        outcome=outcome,
        actor=actor,
        reason=reason,
        signature="unsigned",
    )
    return signed(cmd, key)
