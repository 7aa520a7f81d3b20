"""What a model gate is built from and what it keeps: the frozen spec (from `gates/models`), and
the small value types of its state (a version, a window's decision, a version's lineage)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.contracts.codec import to_jsonable
from orchestrator.contracts.events import ModelUpdate
from orchestrator.contracts.records import SourceOffset
from orchestrator.core.decision import GateInfo
from orchestrator.core.promotion import State


@dataclass(frozen=True, slots=True)
class Threshold:
    metric: str
    min: float | None
    max: float | None


@dataclass(frozen=True, slots=True)
class PrimaryMetric:
    name: str
    direction: Literal["max", "min"]
    tolerance: float


@dataclass(frozen=True, slots=True)
class ModelGateSpec:
    gate: GateInfo
    model: str
    datasets: frozenset[str]
    required_metrics: tuple[str, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    primary: PrimaryMetric | None = None
    retrain_every: int | None = None
    #: versions remembered at most; the oldest that are neither held nor in the champion
    #: history are forgotten first (a new version with none to forget is refused)
    max_versions: int = 1000
    #: decided windows remembered for lineage; the earliest by start are forgotten first
    max_windows: int = 10_000
    #: event ids (updates and commands) remembered for dedupe, the oldest forgotten first
    max_event_ids: int = 100_000


def version_id(model: str, version: str) -> str:
    """The subject id of a model version."""
    return f"{model}:{version}"


@dataclass(slots=True)
class Version:
    update: ModelUpdate
    source: SourceOffset
    state: State = "new"
    revision: int = 0
    decision_id: str | None = None
    #: arrival order among the model's versions (what is forgotten first)
    seq: int = 0

    def entry(self, crowned: int | None) -> dict[str, Any]:
        return {
            "u": to_jsonable(self.update),
            "s": self.source.model_dump(),
            "st": self.state,
            "r": self.revision,
            "d": self.decision_id,
            "q": self.seq,
            "c": crowned,
        }


@dataclass(frozen=True, slots=True)
class WindowDecision:
    """The latest data-gate decision of a window, as the model gate was told of it."""

    outcome: str
    decision_id: str


@dataclass(frozen=True, slots=True)
class Lineage:
    rejected: list[str]
    pending: list[str]
    #: windows older than anything the gate still remembers of their dataset (counted rejected)
    expired: list[str]
    known: list[tuple[str, str, str]]  # (window, outcome, decision id)

    @property
    def clean(self) -> bool:
        return not self.rejected and not self.pending
