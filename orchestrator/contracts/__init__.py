"""Event contracts (SPEC §2) and the records the orchestrator writes (SPEC §3, §5)."""

from orchestrator.contracts.codec import decode, encode
from orchestrator.contracts.events import (
    EVENT_TYPES,
    CommandOverride,
    CommandRollback,
    DataArrival,
    DataWatermark,
    InputEvent,
    ModelUpdate,
    key_of,
)

__all__ = [
    "EVENT_TYPES",
    "CommandOverride",
    "CommandRollback",
    "DataArrival",
    "DataWatermark",
    "InputEvent",
    "ModelUpdate",
    "decode",
    "encode",
    "key_of",
]
