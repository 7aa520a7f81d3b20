"""Deterministic digests: canonical JSON (sorted keys, compact) hashed with SHA-256."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


def canonical(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def digest(obj: Any) -> str:
    """`sha256:<hex>` of the canonical JSON of `obj`."""
    return "sha256:" + hashlib.sha256(canonical(obj)).hexdigest()
