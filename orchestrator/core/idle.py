"""Idle sources (SPEC §3): a dataset with no event for `idle_timeout` of wall clock gets a
`data.watermark` from the orchestrator at now - B. The wall clock is an argument: the event
goes through the log, so replay sees what the live run saw."""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.contracts.events import DataWatermark
from orchestrator.core.access import signed
from orchestrator.core.policy import ORCHESTRATOR_SOURCE, DatasetSpec
from orchestrator.core.timeutil import format_rfc3339_ms, from_ms


def idle_watermarks(
    specs: Mapping[str, DatasetSpec], last_seen: Mapping[str, float], now_s: float, key: bytes
) -> list[DataWatermark]:
    """data.watermark events for datasets idle longer than their idle_timeout, signed with the
    worker key (the source `orchestrator` is reserved: unsigned, it is refused)."""
    out = []
    for name, seen in sorted(last_seen.items()):
        spec = specs.get(name)
        if spec is None or spec.idle_timeout_ms is None:
            continue
        if (now_s - seen) * 1000 >= spec.idle_timeout_ms:
            wm_ms = int(now_s * 1000) - spec.out_of_orderness_ms
            out.append(
                signed(
                    DataWatermark(
                        event_id=f"idle:{name}:{format_rfc3339_ms(wm_ms)}",
                        dataset=name,
                        source=ORCHESTRATOR_SOURCE,
                        watermark=from_ms(wm_ms),
                    ),
                    key,
                )
            )
    return out
