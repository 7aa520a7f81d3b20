"""A partition's whole state as `StateSnapshot` records: what replay may start from instead of
offset 0 (replay/snapshots.py reads them back)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from aiokafka import TopicPartition

from orchestrator.contracts.codec import encode
from orchestrator.contracts.records import StateSnapshot
from orchestrator.core.digest import digest
from orchestrator.pipeline.records import Output


def snapshot_records(
    tp: TopicPartition,
    state: dict[str, Any],
    position: int,
    last_timestamp_ms: int,
    taken_at: datetime,
    part_bytes: int,
) -> list[Output]:
    """`state` (changelog entries) at input `position`, in parts of about `part_bytes` each,
    keyed `<topic>:<partition>`, with the digest of the whole."""
    entries = sorted(state.items())
    parts: list[list[tuple[str, Any]]] = [[]]
    size = 0
    for entry in entries:
        n = len(entry[0]) + len(orjson.dumps(entry[1]))
        if parts[-1] and size + n > part_bytes:
            parts.append([])
            size = 0
        parts[-1].append(entry)
        size += n
    key = f"{tp.topic}:{tp.partition}".encode()
    whole = digest([list(e) for e in entries])
    return [
        Output(
            "snapshots",
            key,
            encode(
                StateSnapshot(
                    topic=tp.topic,
                    partition=tp.partition,
                    position=position,
                    last_timestamp_ms=last_timestamp_ms,
                    digest=whole,
                    entry_count=len(entries),
                    part=i,
                    parts=len(parts),
                    entries=part,
                    taken_at=taken_at,
                )
            ),
        )
        for i, part in enumerate(parts, start=1)
    ]
