"""Who may command what (the access policy as a frozen spec), and HMAC signing of commands."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TypeVar

from orchestrator.contracts.codec import to_jsonable
from orchestrator.contracts.events import CommandOverride, CommandRollback
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

    def allowed(self, actor: str, action: str, model: str) -> bool:
        return (
            Grant(actor, action, model) in self.grants or Grant(actor, action, "*") in self.grants
        )

    def key(self, actor: str) -> bytes | None:
        return dict(self.keys).get(actor)


Command = CommandRollback | CommandOverride


def signing_payload(command: Command) -> bytes:
    """The canonical event without its signature: what an actor's key signs."""
    body = to_jsonable(command)
    body.pop("signature", None)
    return canonical(body)


def sign(command: Command, key: bytes) -> str:
    """HMAC-SHA256 hex of the canonical event (the `signature` field is ignored)."""
    return hmac.new(key, signing_payload(command), hashlib.sha256).hexdigest()


def verify(command: Command, key: bytes | None) -> bool:
    """True if `command` carries a valid signature for `key`."""
    return key is not None and hmac.compare_digest(sign(command, key), command.signature)


C = TypeVar("C", CommandRollback, CommandOverride)


def signed(command: C, key: bytes) -> C:
    """The command with its signature set for `key` (whatever it carried before)."""
    return command.model_copy(update={"signature": sign(command, key)})
