"""The signed form, from outside Python: `docs/signing/sign-command.sh` (bash and openssl) signs
commands that the worker's own verification accepts, for every accepted form of `issued_at`
and for text that must be escaped; a wrong key or a changed field does not verify."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import orjson
import pytest

from orchestrator.contracts.codec import decode
from orchestrator.contracts.events import CommandOverride, CommandRollback, signed_time_ms
from orchestrator.core.access import sign, verify

ROOT = Path(__file__).resolve().parents[2]
SIGNER = ROOT / "docs" / "signing" / "sign-command.sh"
KEY = b"example-key-alice-for-signer-tests"

#: every form of issued_at the contract accepts, and the instant each one means
FORMS = {
    "2026-12-07T10:00:00Z": "2026-12-07T10:00:00Z",
    "2026-12-07T10:00:00.123Z": "2026-12-07T10:00:00.123Z",
    "2026-12-07T10:00:00.123456789Z": "2026-12-07T10:00:00.123Z",
    "2026-12-07T11:00:00+01:00": "2026-12-07T10:00:00Z",
    "2026-12-07T05:30:00.5-04:30": "2026-12-07T10:00:00.5Z",
    "2026-12-07t10:00:00z": "2026-12-07T10:00:00Z",
}


def run(tmp_path: Path, *args: str, issued_at: str = "2026-12-07T10:00:00Z") -> str:
    key = tmp_path / "alice.key"
    key.write_bytes(KEY + b"\n")
    key.chmod(0o600)
    out = subprocess.run(
        ["bash", str(SIGNER), str(key), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "ISSUED_AT": issued_at},
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.parametrize("issued_at", sorted(FORMS))
def test_every_accepted_issued_at_form_verifies(tmp_path: Path, issued_at: str) -> None:
    """A rollback signed by the bash signer, with issued_at written in any accepted form,
    decodes as a contract, keeps issued_at as sent and verifies with the actor's key only."""
    line = run(tmp_path, "rollback", "churn", "alice", "drift", issued_at=issued_at)
    cmd = decode(line.encode(), b"churn", topic_role="commands")
    assert isinstance(cmd, CommandRollback) and cmd.issued_at == issued_at
    want = decode(
        orjson.dumps(
            {
                "type": "command.rollback",
                "v": 1,
                "event_id": "x",
                "model": "m",
                "actor": "a",
                "reason": "r",
                "nonce": "n" * 16,
                "signature": "s",
                "issued_at": FORMS[issued_at],
            }
        )
    )
    assert signed_time_ms(cmd.issued_at) == signed_time_ms(want.issued_at)  # type: ignore[union-attr]
    assert verify(cmd, KEY) and not verify(cmd, KEY + b"x")
    assert cmd.signature == sign(cmd, KEY)


@pytest.mark.parametrize(
    "reason",
    ['quotes " and \\ backslash', "tab\there\nnewline", "ünïcødé → ok", "\x01\x1f control", "'"],
    ids=["quote-backslash", "tab-newline", "unicode", "control", "apostrophe"],
)
def test_text_that_must_be_escaped_verifies(tmp_path: Path, reason: str) -> None:
    """The signer escapes strings exactly as the canonical JSON does."""
    line = run(tmp_path, "rollback", "churn", "alice", reason, "v3")
    cmd = decode(line.encode())
    assert isinstance(cmd, CommandRollback) and cmd.reason == reason and cmd.to_version == "v3"
    assert verify(cmd, KEY)


def test_an_override_verifies_and_a_changed_field_does_not(tmp_path: Path) -> None:
    """An override signed in bash verifies; the same line with its outcome flipped does not."""
    line = run(tmp_path, "override", "churn:v2", "reject", "alice", "bad data")
    cmd = decode(line.encode(), b"churn:v2", topic_role="commands")
    assert isinstance(cmd, CommandOverride) and verify(cmd, KEY)
    forged = decode(line.replace('"reject"', '"promote"').encode())
    assert not verify(forged, KEY)  # type: ignore[arg-type]


def test_the_signer_refuses_a_key_file_others_can_read(tmp_path: Path) -> None:
    """Like the CLI, the bash signer refuses a key file group or others can read."""
    key = tmp_path / "alice.key"
    key.write_bytes(KEY)
    key.chmod(0o644)
    out = subprocess.run(
        ["bash", str(SIGNER), str(key), "rollback", "churn", "alice", "r"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2 and "readable by group or others" in out.stderr
