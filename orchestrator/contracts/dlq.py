"""The dlq envelope (SPEC §2), built to fit the dlq topic whatever the input was."""

from __future__ import annotations

import hashlib
from datetime import datetime

from orchestrator.contracts.codec import b64, cut, encode
from orchestrator.contracts.records import DlqRecord

#: Room left in a dlq record for the Kafka record and batch framing, and the fields besides the
#: original (code, message, event id, position, time).
FRAMING_BYTES = 4096
#: An error message or key kept in an envelope at most (a key is also bounded by the input).
MAX_MESSAGE_CHARS = 2000
MAX_KEY_BYTES = 1024


def envelope(
    *,
    code: str,
    message: str,
    event_id: str | None,
    value: bytes | None,
    key: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    at: datetime,
    max_bytes: int,
) -> tuple[bytes | None, bytes]:
    """(record key, encoded DlqRecord) of one input record, together at most `max_bytes`: the
    dlq record is keyed like the input (its first MAX_KEY_BYTES), and an original whose base64
    would not fit is cut, with `original_truncated`, its size and its SHA-256."""
    original = value or b""
    head_key = key[:MAX_KEY_BYTES] if key is not None else None
    # worst case of everything but the original: the framing, a message of escaped characters
    # (6 bytes each), the key twice (record key and base64 in the body)
    fixed = FRAMING_BYTES + MAX_MESSAGE_CHARS * 6 + 3 * MAX_KEY_BYTES
    room = max(0, (max_bytes - fixed) * 3 // 4)
    truncated = len(original) > room
    record = DlqRecord(
        code=code,
        message=cut(message, MAX_MESSAGE_CHARS),
        event_id=cut(event_id, 200) if event_id is not None else None,
        original=b64(original[:room] if truncated else original) or "",
        original_truncated=True if truncated else None,
        original_size=len(original) if truncated else None,
        original_sha256="sha256:" + hashlib.sha256(original).hexdigest() if truncated else None,
        key=b64(head_key),
        key_truncated=True if key is not None and len(key) > MAX_KEY_BYTES else None,
        topic=topic,
        partition=partition,
        offset=offset,
        at=at,
    )
    return head_key, encode(record)
