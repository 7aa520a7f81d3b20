"""The model gates of one `models.log` partition, one per model, plus the input position."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from orchestrator.contracts.modellog import DataNotice
from orchestrator.contracts.records import SourceOffset
from orchestrator.core.access import AccessSpec
from orchestrator.core.effects import Effect, Rejected
from orchestrator.core.modelgate import SEP, ModelGate, ModelGateSpec, ModelInput
from orchestrator.core.position import POSITION_KEY, Positioned
from orchestrator.errors import E_UNKNOWN_MODEL


class ModelPartition(Positioned):
    """Pure: `handle(model, item, ...) -> effects`. One instance per `models.log` partition."""

    def __init__(
        self, specs: Mapping[str, ModelGateSpec], access: AccessSpec, version: str
    ) -> None:
        self.specs = dict(specs)
        self.access = access
        self.version = version
        self.gates: dict[str, ModelGate] = {}

    def gate(self, model: str) -> ModelGate | None:
        g = self.gates.get(model)
        if g is None and model in self.specs:
            g = self.gates[model] = ModelGate(self.specs[model], self.access, self.version)
        return g

    def handle(
        self,
        model: str,
        item: ModelInput,
        source: SourceOffset,
        offset: int,
        decided_at: datetime,
        trigger: SourceOffset | None = None,
        received_ms: int | None = None,
    ) -> list[Effect]:
        self.position = offset + 1
        g = self.gate(model)
        if g is None:
            event_id = item.decision_id if isinstance(item, DataNotice) else item.event_id
            return [
                Rejected(
                    model,
                    event_id,
                    E_UNKNOWN_MODEL,
                    f"field 'model': no policy for model {model!r} in gates/models",
                )
            ]
        return g.handle(item, source, decided_at, trigger, received_ms)

    @classmethod
    def restore(
        cls,
        specs: Mapping[str, ModelGateSpec],
        access: AccessSpec,
        version: str,
        entries: Iterable[tuple[str, Any]],
    ) -> ModelPartition:
        """Rebuild from the latest value of every changelog key (tombstones already removed)."""
        part = cls(specs, access, version)
        for key, value in entries:
            if key == POSITION_KEY:
                part.position = int(value)
                continue
            kind, model, ident = key.split(SEP, 2)
            g = part.gate(model)
            if g is not None:  # a model whose policy was removed: its state lapses
                g.restore(kind, ident, value)
        for g in part.gates.values():
            g.settle()
        return part

    def rebuild(self, model: str, entries: Iterable[tuple[str, Any]]) -> None:
        """Replace one model's gate by the one its changelog entries hold (the shell's way back
        from a record that failed half-way: the cost of that model's state only)."""
        self.gates.pop(model, None)
        g = self.gate(model)
        if g is None:
            return
        for key, value in entries:
            kind, _, ident = key.split(SEP, 2)
            g.restore(kind, ident, value)
        g.settle()

    def snapshot(self) -> dict[str, Any]:
        """Everything the partition holds, as changelog entries (what `restore` takes back)."""
        out: dict[str, Any] = {POSITION_KEY: self.position}
        for g in self.gates.values():
            out.update(g.entries())
        return out
