"""Re-deriving what the event-time engine must have produced from the input events alone.

This is the seed of `orchestrator replay`: the same core, fed by a different shell.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from orchestrator.contracts.codec import parse_obj
from orchestrator.contracts.events import DataArrival, DataWatermark
from orchestrator.core.effects import Rejected, TooLate, WindowFired
from orchestrator.core.engine import EventTimeEngine
from orchestrator.core.policy import DatasetSpec

WindowKey = tuple[str, int]  # (window id, revision)
WindowFacts = tuple[str, int, list[str]]  # (inputs digest, record total, sorted event ids)


@dataclass
class Derived:
    windows: dict[WindowKey, WindowFacts] = field(default_factory=dict)
    late: list[str] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)


def derive(specs: dict[str, DatasetSpec], events: list[dict[str, Any]]) -> Derived:
    """Feed events (in per-dataset order) through one engine per dataset."""
    engines: dict[str, EventTimeEngine] = {}
    out = Derived()
    for i, obj in enumerate(events):
        event = parse_obj(obj)
        if not isinstance(event, DataArrival | DataWatermark):
            continue
        engine = engines.setdefault(event.dataset, EventTimeEngine(specs))
        for eff in engine.handle(event, 0, i):
            if isinstance(eff, WindowFired):
                m = eff.manifest
                out.windows[(m.window_id, m.revision)] = (
                    m.inputs_digest,
                    m.record_total,
                    sorted(a.event_id for a in m.arrivals),
                )
            elif isinstance(eff, TooLate):
                out.late.append(eff.event.event_id)
            elif isinstance(eff, Rejected):
                out.rejected[eff.code] += 1
    out.late.sort()
    return out


def window_facts(manifest: dict[str, Any]) -> tuple[WindowKey, WindowFacts]:
    """The same facts read back from a `data.windows` record."""
    return (manifest["window_id"], manifest["revision"]), (
        manifest["inputs_digest"],
        manifest["record_total"],
        sorted(a["event_id"] for a in manifest["arrivals"]),
    )
