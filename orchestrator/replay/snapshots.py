"""Starting replay from a verified snapshot instead of offset 0 (`replay --since`).

The worker writes each input partition's state to the snapshot topic every
`snapshot_interval_s`, in parts, with a digest of all its entries. For a range starting at
`since`, the nearest earlier snapshot of a partition is the complete one with the highest
position whose last input record was stamped before `since`. It is used only if it verifies:
every part present, the entries' digest and count as recorded, the position entry equal to the
snapshot's position. A snapshot that does not verify is counted and passed over."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from orchestrator.core.digest import digest
from orchestrator.core.position import POSITION_KEY
from orchestrator.replay.sources import Source


@dataclass
class Snapshot:
    partition: int
    position: int
    digest: str
    taken_at: str
    entries: list[tuple[str, Any]]

    def describe(self) -> dict[str, Any]:
        return {"position": self.position, "taken_at": self.taken_at, "digest": self.digest}


@dataclass
class Found:
    """The snapshot to start each partition from, and how many complete ones failed to verify."""

    by_partition: dict[int, Snapshot] = field(default_factory=dict)
    rejected: int = 0


@dataclass
class _Assembly:
    head: dict[str, Any]
    parts: dict[int, list[Any]] = field(default_factory=dict)


def verified(head: dict[str, Any], entries: list[tuple[str, Any]]) -> bool:
    entries = sorted(entries)
    return bool(
        len(entries) == head["entry_count"]
        and digest([list(e) for e in entries]) == head["digest"]
        and dict(entries).get(POSITION_KEY) == head["position"]
    )


def find_snapshots(source: Source, snapshot_topic: str, input_topic: str, since_ms: int) -> Found:
    """Read the snapshot topic a chunk at a time, keeping, per input partition, the best
    verified snapshot so far and the parts of the one being assembled."""
    found = Found()
    for sp in source.partitions(snapshot_topic):
        assembling: dict[int, _Assembly] = {}
        for chunk in source.chunks(snapshot_topic, sp):
            for _, _, value, *_ in chunk:
                s = _parse(value)
                if s is None or s["topic"] != input_topic or s["last_timestamp_ms"] >= since_ms:
                    continue
                p = s["partition"]
                best = found.by_partition.get(p)
                if best is not None and best.position >= s["position"]:
                    continue
                a = assembling.get(p)
                if a is None or (a.head["position"], a.head["digest"]) != (
                    s["position"],
                    s["digest"],
                ):
                    a = assembling[p] = _Assembly(s)
                a.parts[s["part"]] = s["entries"]
                if len(a.parts) < s["parts"]:
                    continue
                del assembling[p]
                entries = [(k, v) for i in sorted(a.parts) for k, v in a.parts[i]]
                if not verified(a.head, entries):
                    found.rejected += 1
                    continue
                found.by_partition[p] = Snapshot(
                    p, s["position"], s["digest"], s["taken_at"], sorted(entries)
                )
    return found


def _parse(value: bytes | None) -> dict[str, Any] | None:
    try:
        s = orjson.loads(value or b"")
        if s.get("type") != "state.snapshot":
            return None
        int(s["partition"]), int(s["position"]), int(s["last_timestamp_ms"]), int(s["part"])
        int(s["parts"]), int(s["entry_count"]), str(s["digest"]), list(s["entries"])
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        return None
    return s  # type: ignore[no-any-return]
