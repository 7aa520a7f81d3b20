"""Reading secrets from files: an HMAC key, a SASL password, a token, a TLS key. A file that
group or others can read is refused (like ssh does with a private key), so is an empty one,
and an HMAC key shorter than MIN_KEY_BYTES; a secret is never logged."""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.errors import ConfigError

#: the shortest HMAC key accepted (an actor's, the worker's): 128 bits
MIN_KEY_BYTES = 16


def check_secret_file(path: Path, setting: str) -> None:
    """ConfigError if `path` cannot be read, is empty, or is readable by group or others
    (for files a library reads itself, such as a TLS key)."""
    try:
        st = path.stat()
    except OSError as exc:
        raise ConfigError(str(path), setting, exc.strerror or str(exc)) from None
    if st.st_mode & 0o077:
        raise ConfigError(
            str(path),
            setting,
            f"readable by group or others (mode {st.st_mode & 0o777:o}); chmod 600 it",
        )
    if st.st_size == 0:
        raise ConfigError(str(path), setting, "is empty")
    if not os.access(path, os.R_OK):
        raise ConfigError(str(path), setting, "not readable by this user")


def read_secret_file(path: Path, setting: str, *, min_bytes: int = 1) -> bytes:
    """The file's content without surrounding whitespace; ConfigError if it cannot be read, is
    readable by group or others, or holds fewer than `min_bytes` bytes (empty: always)."""
    check_secret_file(path, setting)
    try:
        data = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(str(path), setting, exc.strerror or str(exc)) from None
    if not data:
        raise ConfigError(str(path), setting, "is empty")
    if len(data) < min_bytes:
        raise ConfigError(
            str(path), setting, f"holds {len(data)} bytes; a key needs at least {min_bytes}"
        )
    return data


def check_key(key: bytes, where: str, setting: str) -> bytes:
    """An HMAC key from anywhere (a file, an environment variable): at least MIN_KEY_BYTES."""
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            where, setting, f"the key has {len(key)} bytes; a key needs at least {MIN_KEY_BYTES}"
        )
    return key
