"""Reading secrets from files: an HMAC key, a SASL password, a token. A file that group or
others can read is refused (like ssh does with a private key); a secret is never logged."""

from __future__ import annotations

from pathlib import Path

from orchestrator.errors import ConfigError


def read_secret_file(path: Path, setting: str) -> bytes:
    """The file's content without surrounding whitespace; ConfigError if it cannot be read, is
    empty, or is readable by group or others."""
    try:
        mode = path.stat().st_mode
        if mode & 0o077:
            raise ConfigError(
                str(path),
                setting,
                f"readable by group or others (mode {mode & 0o777:o}); chmod 600 it",
            )
        data = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(str(path), setting, exc.strerror or str(exc)) from None
    if not data:
        raise ConfigError(str(path), setting, "is empty")
    return data
