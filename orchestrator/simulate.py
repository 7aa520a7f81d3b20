"""A seeded generator of realistic arrival streams (event-time part of `orchestrator simulate`).

Several datasets and sources; arrivals out of order within the bound, late but allowed, too
late; exact duplicates and conflicting duplicates; source watermarks; malformed records.
The same seed always gives the same stream.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import orjson

from orchestrator.core.policy import DatasetSpec
from orchestrator.core.timeutil import format_rfc3339_ms

BASE_MS = 1_795_392_000_000  # 2026-11-23T00:00:00Z


@dataclass
class Stream:
    events: list[dict[str, Any]] = field(default_factory=list)
    malformed: list[tuple[bytes, bytes]] = field(default_factory=list)


def _sources(spec: DatasetSpec) -> list[str]:
    return sorted(spec.required_sources) or ["main"]


def generate(specs: dict[str, DatasetSpec], seed: int = 7, windows: int = 6) -> Stream:
    """About `windows` windows per dataset of traffic, with every kind of disorder in it."""
    rng = random.Random(seed)
    out = Stream()
    per_dataset: dict[str, list[dict[str, Any]]] = {}
    for name, spec in sorted(specs.items()):
        events: list[dict[str, Any]] = []
        sources = _sources(spec)
        span = spec.window_ms * windows
        step = max(spec.window_ms // 6, 1000)
        n = 0
        for t in range(0, span, step):
            for src in sources:
                jitter = rng.randint(0, max(spec.out_of_orderness_ms, 1))
                et = BASE_MS + t + rng.randint(0, step - 1) - jitter
                n += 1
                events.append(_arrival(f"{name}-{n}", name, src, et, rng.randint(20, 200)))
        rng.shuffle(events)  # local disorder: re-sort by time with bounded swaps
        events.sort(key=lambda e: e["_t"] + rng.randint(0, spec.out_of_orderness_ms))
        end = BASE_MS + span
        # late but within allowed lateness: an arrival for the previous window after it fired
        if spec.allowed_lateness_ms:
            idx = _index_after(events, end - spec.window_ms + spec.out_of_orderness_ms + 1)
            late_t = end - 2 * spec.window_ms + spec.window_ms // 2
            n += 1
            events.insert(idx, _arrival(f"{name}-{n}-late", name, sources[0], late_t, 5))
        # exact duplicate and conflicting duplicate of early arrivals
        events.insert(4, dict(events[1]))
        conflict = dict(events[2])
        conflict["record_count"] = conflict["record_count"] + 1
        events.insert(5, conflict)
        # source watermarks closing the stream, then one arrival that is too late
        for src in sources:
            events.append(
                _watermark(
                    f"{name}-wm-{src}", name, src, end + spec.allowed_lateness_ms + spec.window_ms
                )
            )
        n += 1
        events.append(
            _arrival(f"{name}-{n}-too-late", name, sources[0], BASE_MS + spec.window_ms // 2, 7)
        )
        per_dataset[name] = events
    # interleave datasets, keeping each dataset's own order
    queues = {k: list(v) for k, v in per_dataset.items()}
    while queues:
        name = rng.choice(sorted(queues))
        out.events.append(queues[name].pop(0))
        if not queues[name]:
            del queues[name]
    for e in out.events:
        e.pop("_t", None)
    some = sorted(specs)[0]
    out.malformed = [
        (some.encode(), b"{this is not json"),
        (
            some.encode(),
            orjson.dumps({"type": "data.arrival", "v": 99, "event_id": "sim-bad-version"}),
        ),
        (
            some.encode(),
            orjson.dumps(
                {"type": "data.arrival", "v": 1, "event_id": "sim-bad-schema", "dataset": some}
            ),
        ),
    ]
    return out


def _index_after(events: list[dict[str, Any]], t: int) -> int:
    for i, e in enumerate(events):
        if e["_t"] >= t:
            return i + 1
    return len(events)


def _arrival(eid: str, dataset: str, source: str, et: int, n: int) -> dict[str, Any]:
    return {
        "type": "data.arrival",
        "v": 1,
        "event_id": eid,
        "dataset": dataset,
        "source": source,
        "event_time": format_rfc3339_ms(et),
        "uri": f"s3://lake/{dataset}/{eid}.parquet",
        "record_count": n,
        "checksum": f"sha256:{eid}",
        "schema_fingerprint": f"sha256:{dataset}-v1",
        "_t": et,
    }


def _watermark(eid: str, dataset: str, source: str, wm: int) -> dict[str, Any]:
    return {
        "type": "data.watermark",
        "v": 1,
        "event_id": eid,
        "dataset": dataset,
        "source": source,
        "watermark": format_rfc3339_ms(wm),
        "_t": wm,
    }
