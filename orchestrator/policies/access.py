"""`gates/access.yaml`: who may do what to which model, and where each actor's key lives."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
    field_validator,
)

from orchestrator.core import access as core_access
from orchestrator.core.access import AccessSpec
from orchestrator.core.decision import GateInfo
from orchestrator.core.timeutil import parse_duration_ms
from orchestrator.policies.common import STRICT, Name, duration, policy_digest
from orchestrator.secrets import MIN_KEY_BYTES, check_key, read_secret_file


class Grant(BaseModel):
    model_config = STRICT
    action: Literal["rollback", "override"]
    #: model names, or "*" for every model
    models: list[Name | Literal["*"]]


class Actor(BaseModel):
    model_config = STRICT
    key_env: Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")] | None = None
    key_file: str | None = None
    allow: list[Grant] = []


class AccessPolicy(BaseModel):
    """`gates/access.yaml`: who may do what to which model, and where each actor's key lives."""

    model_config = STRICT
    kind: Literal["access"]
    version: Annotated[int, Field(ge=1)]
    #: a command issued longer ago than this, by its record's broker time, is denied
    max_command_age: str = "PT15M"
    actors: dict[Name, Actor] = {}

    _age = field_validator("max_command_age")(duration)

    def spec(self, keys: dict[str, bytes]) -> AccessSpec:
        grants = frozenset(
            core_access.Grant(actor, g.action, m)
            for actor, a in self.actors.items()
            for g in a.allow
            for m in g.models
        )
        return AccessSpec(
            GateInfo("access", self.version, policy_digest(self)),
            grants,
            tuple(sorted(keys.items())),
            parse_duration_ms(self.max_command_age),
        )

    def resolve_keys(self, environ: Mapping[str, str], base: Path) -> dict[str, bytes]:
        """Each actor's HMAC key from the environment variable or file its entry names; actors
        whose key is absent are left out (see `missing_keys`). A key file readable by group or
        others, or a key shorter than MIN_KEY_BYTES, is refused (ConfigError)."""
        keys: dict[str, bytes] = {}
        for actor, a in self.actors.items():
            if a.key_env and environ.get(a.key_env):
                keys[actor] = check_key(environ[a.key_env].encode(), "(environment)", a.key_env)
            elif a.key_file:
                path = Path(a.key_file) if Path(a.key_file).is_absolute() else base / a.key_file
                if path.exists():
                    keys[actor] = read_secret_file(
                        path, f"actors.{actor}.key_file", min_bytes=MIN_KEY_BYTES
                    )
        return keys

    def missing_keys(self, keys: Mapping[str, bytes]) -> dict[str, str]:
        """Actors whose key is not available, and where it was looked for."""
        return {
            actor: f"environment variable {a.key_env}" if a.key_env else f"file {a.key_file}"
            for actor, a in sorted(self.actors.items())
            if actor not in keys
        }
