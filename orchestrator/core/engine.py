"""The event-time engine of one input partition: routes events to their dataset's windows."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from orchestrator.contracts.events import DataArrival, DataWatermark
from orchestrator.core.datagate import DataGate
from orchestrator.core.effects import Effect, Rejected, StatePut
from orchestrator.core.policy import DatasetSpec
from orchestrator.core.windows import EPOCH, SEP, DatasetWindows

E_UNKNOWN_DATASET = "E_UNKNOWN_DATASET"
#: Changelog key of the partition's position: the next input offset not yet reflected in state.
POSITION_KEY = f"{SEP}pos"


class EventTimeEngine:
    """Pure: `handle(event, partition, offset) -> effects`. One instance per input partition."""

    def __init__(
        self,
        specs: Mapping[str, DatasetSpec],
        gates: Mapping[str, Callable[[], DataGate]] | None = None,
    ) -> None:
        self.specs = dict(specs)
        self.gates = dict(gates or {})
        self.datasets: dict[str, DatasetWindows] = {}
        #: The next input offset this state has not seen (recovery skips offsets below it).
        self.position = 0

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
    ) -> list[Effect]:
        windows = self.dataset(event.dataset)
        if windows is None:
            effects: list[Effect] = [
                Rejected(
                    event.dataset,
                    event.event_id,
                    E_UNKNOWN_DATASET,
                    f"field 'dataset': no policy for dataset {event.dataset!r} in gates/datasets",
                )
            ]
        elif isinstance(event, DataArrival):
            effects = windows.handle_arrival(event, partition, offset, decided_at)
        else:
            effects = windows.handle_watermark(event, partition, offset, decided_at)
        self.position = offset + 1
        return effects

    def skip(self, offset: int) -> None:
        """Note an input offset that carried no event for the core (e.g. undecodable bytes)."""
        self.position = offset + 1

    def position_entry(self) -> StatePut:
        return StatePut(POSITION_KEY, self.position)

    # -- recovery ----------------------------------------------------------------------------

    @classmethod
    def restore(
        cls,
        specs: Mapping[str, DatasetSpec],
        entries: Iterable[tuple[str, Any]],
        gates: Mapping[str, Callable[[], DataGate]] | None = None,
    ) -> EventTimeEngine:
        """Rebuild from the latest value of every changelog key (tombstones already removed)."""
        engine = cls(specs, gates)
        for key, value in entries:
            if key == POSITION_KEY:
                engine.position = int(value)
                continue
            dataset, kind, ident = key.split(SEP, 2)
            windows = engine.dataset(dataset)
            if windows is not None:  # a dataset whose policy was removed: its state lapses
                windows.restore(kind, ident, value)
        return engine

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {POSITION_KEY: self.position}
        for windows in self.datasets.values():
            out.update(windows.snapshot())
        return out
