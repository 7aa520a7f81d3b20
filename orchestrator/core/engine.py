"""The event-time engine of one input partition: routes events to their dataset's windows."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from orchestrator.contracts.events import DataArrival, DataWatermark
from orchestrator.contracts.records import Check
from orchestrator.core.access import verify
from orchestrator.core.datagate import DataGate
from orchestrator.core.effects import Decided, Effect, Notified, Rejected
from orchestrator.core.policy import ORCHESTRATOR_SOURCE, DatasetSpec
from orchestrator.core.position import POSITION_KEY, Positioned
from orchestrator.core.windows import EPOCH, SEP, DatasetWindows
from orchestrator.errors import E_RESERVED_SOURCE, E_UNKNOWN_DATASET


class EventTimeEngine(Positioned):
    """Pure: `handle(event, partition, offset) -> effects`. One instance per input partition."""

    def __init__(
        self,
        specs: Mapping[str, DatasetSpec],
        gates: Mapping[str, Callable[[], DataGate]] | None = None,
        worker_key: bytes | None = None,
        fanout: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.specs = dict(specs)
        self.gates = dict(gates or {})
        #: dataset -> the models whose policy lists it (each hears of the dataset's decisions)
        self.fanout = {ds: tuple(models) for ds, models in (fanout or {}).items() if models}
        #: verifies the worker's own watermarks (source `orchestrator`); None: none is trusted
        self.worker_key = worker_key
        self.datasets: dict[str, DatasetWindows] = {}

    def dataset(self, name: str) -> DatasetWindows | None:
        windows = self.datasets.get(name)
        if windows is None:
            spec = self.specs.get(name)
            if spec is None:
                return None
            make_gate = self.gates.get(name)
            windows = self.datasets[name] = DatasetWindows(spec, make_gate() if make_gate else None)
        return windows

    def handle(
        self,
        event: DataArrival | DataWatermark,
        partition: int,
        offset: int,
        decided_at: datetime = EPOCH,
        timestamp_ms: int | None = None,
    ) -> list[Effect]:
        """Effects of one event at `offset`; `timestamp_ms` is the record's broker timestamp
        (event times further ahead of it than the dataset's max_future_skew are refused)."""
        windows = self.dataset(event.dataset)
        if event.source == ORCHESTRATOR_SOURCE and not (
            isinstance(event, DataWatermark) and verify(event, self.worker_key)
        ):
            effects: list[Effect] = [
                Rejected(
                    event.dataset,
                    event.event_id,
                    E_RESERVED_SOURCE,
                    f"field 'source': {ORCHESTRATOR_SOURCE!r} is reserved for the worker's own "
                    "watermarks, which carry its signature",
                )
            ]
        elif windows is None:
            effects = [
                Rejected(
                    event.dataset,
                    event.event_id,
                    E_UNKNOWN_DATASET,
                    f"field 'dataset': no policy for dataset {event.dataset!r} in gates/datasets",
                )
            ]
        elif isinstance(event, DataArrival):
            effects = windows.handle_arrival(event, partition, offset, decided_at, timestamp_ms)
        else:
            effects = windows.handle_watermark(event, partition, offset, decided_at, timestamp_ms)
        self.position = offset + 1
        models = self.fanout.get(event.dataset)
        if models and any(type(e) is Decided for e in effects):
            return fan_out(effects, models)
        return effects

    # -- recovery ----------------------------------------------------------------------------

    @classmethod
    def restore(
        cls,
        specs: Mapping[str, DatasetSpec],
        entries: Iterable[tuple[str, Any]],
        gates: Mapping[str, Callable[[], DataGate]] | None = None,
        worker_key: bytes | None = None,
        fanout: Mapping[str, Sequence[str]] | None = None,
    ) -> EventTimeEngine:
        """Rebuild from the latest value of every changelog key (tombstones already removed)."""
        engine = cls(specs, gates, worker_key, fanout)
        for key, value in entries:
            if key == POSITION_KEY:
                engine.position = int(value)
                continue
            dataset, kind, ident = key.split(SEP, 2)
            windows = engine.dataset(dataset)
            if windows is not None:  # a dataset whose policy was removed: its state lapses
                windows.restore(kind, ident, value)
        for windows in engine.datasets.values():
            windows.settle()
        return engine

    def rebuild(self, dataset: str, entries: Iterable[tuple[str, Any]]) -> None:
        """Replace one dataset's state by the one its changelog entries hold (the shell's way
        back from a record that failed half-way: the cost of that dataset's state only)."""
        self.datasets.pop(dataset, None)
        windows = self.dataset(dataset)
        if windows is None:
            return
        for key, value in entries:
            _, kind, ident = key.split(SEP, 2)
            windows.restore(kind, ident, value)
        windows.settle()

    def window_counts(self, now_ms: int) -> dict[str, tuple[int, int]]:
        """Per dataset: (windows open, windows overdue). Overdue: not fired although the wall
        clock `now_ms` is past end + the policy's `expected_by` (alerting only)."""
        out: dict[str, tuple[int, int]] = {}
        for name, windows in self.datasets.items():
            spec = windows.spec
            due = spec.expected_by_ms
            overdue = (
                0
                if due is None
                else sum(
                    1
                    for start, w in windows.windows.items()
                    if w.revision == 0 and now_ms > start + spec.window_ms + due
                )
            )
            out[name] = (len(windows.windows), overdue)
        return out

    def snapshot(self) -> dict[str, Any]:
        """Everything the engine holds, as changelog entries (what `restore` takes back)."""
        out: dict[str, Any] = {POSITION_KEY: self.position}
        for windows in self.datasets.values():
            out.update(windows.snapshot())
        return out


def _drifted(c: Check) -> bool:
    """A drift check that failed on a figure (one that could not be judged, for want of
    profiled values, is not drift: it asks for no retraining)."""
    return (
        c.name.startswith("drift.")
        and not c.passed
        and isinstance(c.observed, dict)
        and c.observed.get("value") is not None
    )


def fan_out(effects: list[Effect], models: Sequence[str]) -> list[Effect]:
    """Each data decision, followed by a notice to every model that depends on its dataset (in
    the models' order: the order their `models.log` entries are written)."""
    out: list[Effect] = []
    for effect in effects:
        out.append(effect)
        if type(effect) is Decided:
            d = effect.decision
            drift = [c for c in d.checks if _drifted(c)]
            out += [
                Notified(m, d.subject.id, d.outcome, d.decision_id, drift or None) for m in models
            ]
    return out
