"""Who may command what (the access policy as a frozen spec), and HMAC signing of commands."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import TypeVar

from orchestrator.contracts.codec import to_jsonable
from orchestrator.contracts.events import CommandOverride, CommandRollback, DataWatermark
from orchestrator.core.decision import GateInfo
from orchestrator.core.digest import canonical


@dataclass(frozen=True, slots=True)
class Grant:
    """`actor` may `action` (rollback or override) on `model` ("*": any model)."""

    actor: str
    action: str
    model: str


@dataclass(frozen=True, slots=True)
class AccessSpec:
    gate: GateInfo
    grants: frozenset[Grant]
    #: actor -> HMAC key, resolved by the shell (keys never live in the policy file)
    keys: tuple[tuple[str, bytes], ...] = ()
    #: a command issued longer ago than this (against its record's broker time) is denied
    max_command_age_ms: int = 900_000

    def allowed(self, actor: str, action: str, model: str) -> bool:
        return (
            Grant(actor, action, model) in self.grants or Grant(actor, action, "*") in self.grants
        )

    def key(self, actor: str) -> bytes | None:
        return dict(self.keys).get(actor)


Command = CommandRollback | CommandOverride
#: what is signed: the commands (actor keys) and the worker's own watermarks (worker key)
Signed = CommandRollback | CommandOverride | DataWatermark


def signing_payload(event: Signed) -> bytes:
    """The canonical event without its signature: what a key signs."""
    body = to_jsonable(event)
    body.pop("signature", None)
    return canonical(body)


def sign(event: Signed, key: bytes) -> str:
    """HMAC-SHA256 hex of the canonical event (the `signature` field is ignored)."""
    return hmac.new(key, signing_payload(event), hashlib.sha256).hexdigest()


#: what a signature is: HMAC-SHA256 as 64 lower-case hex digits, nothing else
SIGNATURE = re.compile(r"[0-9a-f]{64}")


def verify(event: Signed, key: bytes | None) -> bool:
    """True if `event` carries a valid signature for `key`. A signature that is not 64
    lower-case hex digits is false at once (whatever its characters: `compare_digest` takes
    ASCII only), at the cost of looking at it."""
    sig = event.signature
    return (
        key is not None
        and sig is not None
        and SIGNATURE.fullmatch(sig) is not None
        and hmac.compare_digest(sign(event, key), sig)
    )


C = TypeVar("C", CommandRollback, CommandOverride, DataWatermark)


def signed(event: C, key: bytes) -> C:
    """The event with its signature set for `key` (whatever it carried before)."""
    return event.model_copy(update={"signature": sign(event, key)})
