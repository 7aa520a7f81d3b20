"""Event-time windows for one dataset: dedupe, lateness, revisions, manifests (SPEC §3).

`DatasetWindows.handle_*` take one decoded event with its log position and return effects.
State: the open windows (until end + L), their arrivals and latest decisions, the source
watermarks; every change is also a StatePut/StateDelete, a changelog entry per event.

Deletes are garbage collection: a window past end + L is dropped again by `restore` from the
watermarks alone, so its tombstones may reach the changelog later than the state that made it
dead (the shell writes them after, and may split them; see pipeline/shell.py and worker/sink.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from orchestrator.contracts.events import DataArrival, DataWatermark
from orchestrator.core.datagate import DataGate
from orchestrator.core.effects import (
    Accepted,
    Decided,
    Duplicate,
    Effect,
    Rejected,
    StateDelete,
    StatePut,
    TooLate,
    WatermarkAdvanced,
    WindowDropped,
    WindowFired,
)
from orchestrator.core.openwindow import (
    OpenWindow,
    arrival_digest,
    arrival_weight,
    held_arrival,
    keep_profile,
    manifest,
)
from orchestrator.core.policy import ORCHESTRATOR_SOURCE, DatasetSpec
from orchestrator.core.timeutil import from_ms, to_ms, window_id, window_start_ms
from orchestrator.core.watermark import Watermarks
from orchestrator.errors import (
    E_DUPLICATE_CONFLICT,
    E_FUTURE_EVENT,
    E_OVERFLOW,
    E_PROFILE_MISMATCH,
    E_SOURCE_LIMIT,
    E_TOO_LATE,
    E_WINDOW_FULL,
    E_WINDOW_LIMIT,
    InvariantViolation,
)

SEP = "\x1f"
#: the kinds of a dataset's changelog keys (`<dataset>SEP<kind>SEP<ident>`): one letter each,
#: so that keys stay short and those already written keep being read
SOURCE: Final = "s"  # a source watermark
WINDOW: Final = "w"  # a window's revision and latest decision
GATE: Final = "g"  # the data gate's state
ARRIVAL: Final = "a"  # an arrival of an open window
_NEVER = 2**63
#: decided_at when the caller does not care (tests): the field is left out of every comparison.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Every integer on the wire is a signed 64-bit integer (SPEC §2), window totals included.
INT64_MAX = 2**63 - 1


class DatasetWindows:
    """All event-time state of one dataset, and its data gate when one is configured."""

    def __init__(self, spec: DatasetSpec, gate: DataGate | None = None) -> None:
        self.spec = spec
        self.gate = gate
        self.watermarks = Watermarks(spec.required_sources)
        self.windows: dict[int, OpenWindow] = {}
        #: event_id -> (window start, content digest) across all open windows: the dedupe memory.
        self.index: dict[str, tuple[int, str]] = {}
        #: the lowest watermark at which a window fires or drops (None: recompute)
        self._next_change: int | None = None
        #: per arrival, besides its fields: its ref's keys and numbers, its offset in the
        #: decision (`{"topic":...,"partition":...,"offset":...}`), the list separators
        self._overhead = 200 + (len(gate.arrivals_topic) if gate is not None else 0)

    # -- keys of the state changelog ---------------------------------------------------------

    def _key(self, kind: str, ident: str) -> str:
        return f"{self.spec.name}{SEP}{kind}{SEP}{ident}"

    # -- events ------------------------------------------------------------------------------

    def _future(
        self, event_id: str, what: str, ms: int, timestamp_ms: int | None
    ) -> Rejected | None:
        """An event time ahead of the record's broker timestamp by more than max_future_skew."""
        skew = self.spec.max_future_skew_ms
        if timestamp_ms is None or skew is None or ms <= timestamp_ms + skew:
            return None
        return Rejected(
            self.spec.name,
            event_id,
            E_FUTURE_EVENT,
            f"field '{what}': {from_ms(ms).isoformat()} is {ms - timestamp_ms} ms ahead of the "
            f"record's broker timestamp {from_ms(timestamp_ms).isoformat()}; "
            f"max_future_skew of {self.spec.name} is {skew} ms",
        )

    def handle_arrival(
        self,
        event: DataArrival,
        partition: int,
        offset: int,
        decided_at: datetime = EPOCH,
        timestamp_ms: int | None = None,
    ) -> list[Effect]:
        spec = self.spec
        event_ms = to_ms(event.event_time)
        # 0. an event from the future would move the watermark past everything that follows
        future = self._future(event.event_id, "event_time", event_ms, timestamp_ms)
        if future is not None:
            return [future]
        wm_before = self.watermarks.value
        start = window_start_ms(event_ms, spec.window_ms)
        # 1. too late first: judged against WM(D) as it stood before this arrival.
        if wm_before >= start + spec.window_ms + spec.allowed_lateness_ms:
            wid = window_id(spec.name, start, spec.window_ms)
            return [TooLate(event, E_TOO_LATE, wid, wm_before, partition, offset)]
        # 2. dedupe across every open window of the dataset.
        content = arrival_digest(event)
        seen = self.index.get(event.event_id)
        if seen is not None:
            seen_wid = window_id(spec.name, seen[0], spec.window_ms)
            if seen[1] == content:
                return [Duplicate(spec.name, event.event_id, seen_wid)]
            return [
                Rejected(
                    spec.name,
                    event.event_id,
                    E_DUPLICATE_CONFLICT,
                    f"event_id {event.event_id!r} was already accepted into {seen_wid} "
                    f"with different content ({seen[1]} != {content})",
                )
            ]
        # 3. the bounds on what a dataset holds, then accept.
        source = event.source
        if (
            source not in self.watermarks.sources
            and len(self.watermarks.sources) >= spec.max_sources
            and source != ORCHESTRATOR_SOURCE
        ):
            return [self._source_limit(event.event_id, source)]
        window = self.windows.get(start)
        ref = {
            "event_id": event.event_id,
            "source": source,
            "uri": event.uri,
            "checksum": event.checksum,
            "record_count": event.record_count,
            "schema_fingerprint": event.schema_fingerprint,
            "digest": content,
            "partition": partition,
            "offset": offset,
        }
        mismatch = keep_profile(spec.profile, event.profile, ref)
        if mismatch is not None:
            return [Rejected(spec.name, event.event_id, E_PROFILE_MISMATCH, mismatch)]
        weight = arrival_weight(ref, self._overhead)
        if window is not None and (
            len(window.arrivals) >= spec.max_window_arrivals
            or window.weight + weight > spec.max_window_bytes
        ):
            window.refused += 1
            return [
                Rejected(
                    spec.name,
                    event.event_id,
                    E_WINDOW_FULL,
                    f"window {window.window_id} already holds {len(window.arrivals)} arrivals "
                    f"of ~{window.weight} bytes (max_window_arrivals {spec.max_window_arrivals}, "
                    f"max_window_bytes {spec.max_window_bytes}): refused; the window's data "
                    "gate rejects it as incomplete (E_WINDOW_FULL)",
                ),
                StatePut(self._key(WINDOW, str(start)), window.entry()),
            ]
        if window is None and weight > spec.max_window_bytes:
            return [
                Rejected(
                    spec.name,
                    event.event_id,
                    E_WINDOW_FULL,
                    f"the arrival alone would weigh ~{weight} bytes in its window's manifest "
                    f"(max_window_bytes {spec.max_window_bytes})",
                )
            ]
        if window is None:
            if len(self.windows) >= spec.max_open_windows:
                return [
                    Rejected(
                        spec.name,
                        event.event_id,
                        E_WINDOW_LIMIT,
                        f"dataset {spec.name} already holds {len(self.windows)} open windows "
                        f"(max_open_windows); its watermark is "
                        f"{self._wm_text()}: a required source may be silent. Send the event "
                        "again once the watermark has moved on.",
                    )
                ]
        elif window.total + event.record_count > INT64_MAX:
            return [
                Rejected(
                    spec.name,
                    event.event_id,
                    E_OVERFLOW,
                    f"field 'record_count': the record total of {window.window_id} would "
                    f"exceed 2^63-1 ({window.total} + {event.record_count})",
                )
            ]
        if window is None:
            wid = window_id(spec.name, start, spec.window_ms)
            window = self.windows[start] = OpenWindow(start, wid)
            self._next_change = None
        # The fields come from a validated DataArrival, so the ref is the JSON form of
        # ArrivalRef directly (same keys, same order as its model_dump).
        window.arrivals[event.event_id] = ref
        window.total += event.record_count
        window.weight += weight
        self.index[event.event_id] = (start, content)
        effects: list[Effect] = [
            Accepted(spec.name, event.event_id, window.window_id),
            StatePut(self._key(ARRIVAL, event.event_id), {"w": start, "r": ref}),
        ]
        refire = window.revision > 0
        effects.extend(self._observe(event.source, event_ms - spec.out_of_orderness_ms))
        effects.extend(self._advance(start if refire else None, decided_at, (partition, offset)))
        return effects

    def handle_watermark(
        self,
        event: DataWatermark,
        partition: int = 0,
        offset: int = 0,
        decided_at: datetime = EPOCH,
        timestamp_ms: int | None = None,
    ) -> list[Effect]:
        future = self._future(event.event_id, "watermark", to_ms(event.watermark), timestamp_ms)
        if future is not None:
            return [future]
        source = event.source
        if (
            source not in self.watermarks.sources
            and len(self.watermarks.sources) >= self.spec.max_sources
            and source != ORCHESTRATOR_SOURCE
        ):
            return [self._source_limit(event.event_id, source)]
        effects = self._observe(source, to_ms(event.watermark))
        effects.extend(self._advance(None, decided_at, (partition, offset)))
        return effects

    # -- internals ---------------------------------------------------------------------------

    def _source_limit(self, event_id: str, source: str) -> Rejected:
        spec = self.spec
        return Rejected(
            spec.name,
            event_id,
            E_SOURCE_LIMIT,
            f"field 'source': dataset {spec.name} already has {len(self.watermarks.sources)} "
            f"sources (max_sources {spec.max_sources}); {source[:200]!r} would be one more",
        )

    def _wm_text(self) -> str:
        wm = self.watermarks.value
        if wm <= -(2**61):
            return "not set yet"
        try:
            return from_ms(wm).isoformat()
        except (ValueError, OverflowError):  # before year 1: a policy's huge out_of_orderness
            return f"{wm} ms since the epoch"

    def _observe(self, source: str, candidate_ms: int) -> list[Effect]:
        before = self.watermarks.value
        if not self.watermarks.observe(source, candidate_ms):
            return []
        effects: list[Effect] = [StatePut(self._key(SOURCE, source), candidate_ms)]
        if self.watermarks.value > before:
            effects.append(WatermarkAdvanced(self.spec.name, self.watermarks.value))
        return effects

    def _advance(
        self, refire_start: int | None, decided_at: datetime, trigger: tuple[int, int]
    ) -> list[Effect]:
        """Fire due windows in ascending start order, then drop windows past end + L."""
        spec = self.spec
        wm = self.watermarks.value
        if refire_start is None:
            if self._next_change is None:
                self._next_change = min(
                    (
                        s + spec.window_ms + (0 if w.revision == 0 else spec.allowed_lateness_ms)
                        for s, w in self.windows.items()
                    ),
                    default=_NEVER,
                )
            if wm < self._next_change:
                return []  # nothing fires or drops below this watermark: the common case
        self._next_change = None
        due = sorted(
            s
            for s, w in self.windows.items()
            if (w.revision == 0 and wm >= s + spec.window_ms) or s == refire_start
        )
        effects: list[Effect] = []
        for start in due:
            window = self.windows[start]
            window.revision += 1
            fired, wire = manifest(self.spec, window, wm)
            effects.append(WindowFired(fired, wire))
            if self.gate is not None:
                decision = self.gate.decide(fired, decided_at, window.decision, trigger)
                window.decision = decision.decision_id
                effects.append(Decided(decision))
                effects.append(StatePut(self._key(GATE, ""), self.gate.snapshot()))
            effects.append(StatePut(self._key(WINDOW, str(start)), window.entry()))
        for start in sorted(self.windows):
            if wm >= start + spec.window_ms + spec.allowed_lateness_ms:
                effects.extend(self._drop(start))
        return effects

    def _drop(self, start: int) -> list[Effect]:
        window = self.windows.pop(start)
        if window.revision == 0:
            raise InvariantViolation(f"window {start} of {self.spec.name} dropped before firing")
        effects: list[Effect] = [
            WindowDropped(self.spec.name, window.window_id),
            StateDelete(self._key(WINDOW, str(start))),
        ]
        # in event id order: the order arrivals were added differs after a restore (changelog
        # order), and the same input must give the same effects either way
        for event_id in sorted(window.arrivals):
            del self.index[event_id]
            effects.append(StateDelete(self._key(ARRIVAL, event_id)))
        return effects

    # -- recovery ----------------------------------------------------------------------------

    def restore(self, kind: str, ident: str, value: Any) -> None:
        """Apply one changelog entry (the inverse of the StatePut effects). Call `settle()`
        once every entry of the dataset is applied."""
        self._next_change = None
        if kind == SOURCE:
            self.watermarks.observe(ident, int(value))
        elif kind == WINDOW:
            window = self._restored_window(int(ident))
            window.revision, window.decision = int(value["r"]), value["d"]
            window.refused = int(value.get("x", 0))
        elif kind == GATE:
            if self.gate is not None:
                self.gate.restore(value)
        elif kind == ARRIVAL:
            start = int(value["w"])
            ref, arrival = held_arrival(value["r"])
            window = self._restored_window(start)
            window.arrivals[ref.event_id] = arrival
            window.total += ref.record_count
            window.weight += arrival_weight(arrival, self._overhead)
            self.index[ref.event_id] = (start, ref.digest)
        else:
            raise InvariantViolation(f"unknown state kind {kind!r}")

    def _restored_window(self, start: int) -> OpenWindow:
        window = self.windows.get(start)
        if window is None:
            wid = window_id(self.spec.name, start, self.spec.window_ms)
            window = self.windows[start] = OpenWindow(start, wid)
        return window

    def settle(self) -> None:
        """After restore: forget what the watermarks say is dead (windows past end + L whose
        tombstones had not reached the changelog yet), as `_drop` would have."""
        spec = self.spec
        wm = self.watermarks.value
        for start in sorted(self.windows):
            if wm >= start + spec.window_ms + spec.allowed_lateness_ms:
                for event_id in self.windows.pop(start).arrivals:
                    del self.index[event_id]

    def snapshot(self) -> dict[str, Any]:
        """Everything the dataset holds, as changelog entries (key -> value); for tests and tools."""
        out: dict[str, Any] = {}
        for source, wm in self.watermarks.sources.items():
            out[self._key(SOURCE, source)] = wm
        if self.gate is not None:
            out[self._key(GATE, "")] = self.gate.snapshot()
        for start, window in self.windows.items():
            if window.revision or window.refused:
                out[self._key(WINDOW, str(start))] = window.entry()
            for event_id, ref in window.arrivals.items():
                out[self._key(ARRIVAL, event_id)] = {"w": start, "r": ref}
        return out
