"""A fixed event-time scenario for the worker tests, and what the core says it must produce."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from orchestrator.contracts.codec import parse_obj
from orchestrator.contracts.events import DataArrival, DataWatermark
from orchestrator.core.effects import Effect, Rejected, StateDelete, StatePut, TooLate, WindowFired
from orchestrator.core.engine import EventTimeEngine
from orchestrator.core.policy import DatasetSpec
from tests import factories


def _a(eid: str, ds: str, src: str, t: str, n: int = 100, **kw: Any) -> dict[str, Any]:
    return factories.arrival(
        eid, dataset=ds, source=src, event_time=f"2026-11-23T{t}Z", record_count=n, **kw
    )


def events() -> list[dict[str, Any]]:
    """clicks (R = eu, us; W 1h, B 5m, L 30m) and payments (W 15m, B 2m, L 10m), interleaved."""
    out: list[dict[str, Any]] = []
    # hour 10 of clicks, both sources, some disorder
    for i, (src, t) in enumerate(
        [
            ("eu", "10:01:00"),
            ("us", "10:03:00"),
            ("eu", "10:20:00"),
            ("us", "10:15:00"),
            ("eu", "10:59:00"),
            ("us", "10:40:00"),
        ]
    ):
        out.append(_a(f"c10-{i}", "clicks", src, t))
    for q in range(6):  # payments every 5 minutes from 10:00 to 10:25 then gaps
        out.append(
            _a(
                f"p-{q}",
                "payments",
                "pos",
                f"10:{q * 5:02d}:30",
                n=20,
                schema_fingerprint="sha256:payments-v1",
            )
        )
    out.append(_a("c10-0", "clicks", "eu", "10:01:00"))  # duplicate, same content
    out.append(_a("c10-2", "clicks", "eu", "10:20:00", n=999))  # conflicting duplicate
    for i, (src, t) in enumerate([("eu", "11:06:00"), ("us", "11:07:00")]):  # close hour 10
        out.append(_a(f"c11-{i}", "clicks", src, t))
    out.append(_a("c10-late", "clicks", "us", "10:30:00"))  # late within L: revision 2
    out.append(
        factories.watermark(
            "wm-eu-1", dataset="clicks", source="eu", watermark="2026-11-23T12:00:00Z"
        )
    )
    out.append(
        factories.watermark(
            "wm-us-1", dataset="clicks", source="us", watermark="2026-11-23T12:00:00Z"
        )
    )
    out.append(_a("c10-toolate", "clicks", "eu", "10:45:00"))  # WM 12:00 >= 11:30: too late
    out.append(
        _a("p-late", "payments", "pos", "10:03:00", n=20)
    )  # payments WM ~10:23: window 10:00 + 10m
    for q in range(6, 12):
        out.append(_a(f"p-{q}", "payments", "pos", f"10:{q * 5:02d}:30", n=20))
    out.append(_a("x-1", "unknown-ds", "eu", "10:00:00"))
    out.append(
        factories.watermark(
            "wm-pos-1", dataset="payments", source="pos", watermark="2026-11-23T11:30:00Z"
        )
    )
    return out


# -- the core as an oracle: what the event-time engine must produce for a list of events --

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


def expected(specs: dict[str, DatasetSpec], evs: list[dict[str, Any]]) -> dict[str, Any]:
    """Windows (id, revision) -> (digest, total, ids); late event ids; dlq codes, per the core."""
    d = derive(specs, evs)
    return {"windows": d.windows, "late": d.late, "dlq": sorted(d.rejected.elements())}


def changelog(effects: list[list[Effect]]) -> list[tuple[str, Any]]:
    """The latest value per key after applying StatePut/StateDelete effects, JSON round-tripped
    as the worker stores them."""
    log: dict[str, object] = {}
    for batch in effects:
        for e in batch:
            if isinstance(e, StatePut):
                log[e.key] = e.value
            elif isinstance(e, StateDelete):
                del log[e.key]
    return list(orjson.loads(orjson.dumps(log)).items())
