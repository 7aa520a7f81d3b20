"""What every policy file shares: strict models, names, durations, the content digest."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    StringConstraints,
)

from orchestrator.core.digest import digest
from orchestrator.core.timeutil import parse_duration_ms

STRICT = ConfigDict(frozen=True, extra="forbid")
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,200}$")]
Severity = Literal["error", "warn"]


def duration(v: str) -> str:
    parse_duration_ms(v)
    return v


def policy_digest(policy: BaseModel) -> str:
    """Content digest recorded with every decision the policy makes. A key added later that
    is at its default is left out (the policy digests as it did before the key existed)."""
    dumped = policy.model_dump(mode="json")
    later: dict[str, object] = getattr(type(policy), "LATER_KEYS", {})
    for key, default in later.items():
        if dumped.get(key) == default:
            del dumped[key]
    return digest(dumped)
