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


#: canonical JSON of validated fields: datetimes (always UTC inside) written with `Z`
_FIELDS_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z


def digest_of_fields(fields: dict[str, Any]) -> str:
    """`digest` of a dict whose datetimes are UTC: what `digest(to_jsonable(model))` gives for
    a model with these field values, without the model's serializer."""
    return "sha256:" + hashlib.sha256(orjson.dumps(fields, option=_FIELDS_OPTIONS)).hexdigest()
