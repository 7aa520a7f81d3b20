"""What a model gate is built from and what it keeps: the frozen spec (from `gates/models`), and
the small value types of its state (a version, a window's decision, a version's lineage)."""

from __future__ import annotations

from dataclasses import dataclass, field
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
class Guard:
    """How far a live figure of `metric` may fall behind its baseline (direction: which way is
    better)."""

    metric: str
    direction: Literal["max", "min"]
    tolerance: float

    def worse(self, value: float, base: float) -> bool:
        """`value` is worse than `base` beyond the tolerance."""
        if self.direction == "max":
            return value < base - self.tolerance
        return value > base + self.tolerance


@dataclass(frozen=True, slots=True)
class Rollout:
    """Staged rollout (SPEC §4): a version that passes the gate is a challenger until
    `challenger_windows` live intervals of at least `min_samples` samples show it no worse than
    the champion; live intervals of the champion are guarded against degradation."""

    challenger_windows: int
    min_samples: int
    guard: Guard


@dataclass(frozen=True, slots=True)
class LiveBound:
    """A figure of the champion's live intervals (a calibration error, a metric) must stay
    within [min, max] on intervals of at least `min_samples` samples."""

    metric: str
    min: float | None = None
    max: float | None = None
    min_samples: int = 0

    def outside(self, value: float) -> bool:
        return (self.min is not None and value < self.min) or (
            self.max is not None and value > self.max
        )


@dataclass(frozen=True, slots=True)
class Plateau:
    """The primary metric of the last `last` promoted versions gained less than `min_gain`."""

    last: int
    min_gain: float


@dataclass(frozen=True, slots=True)
class Retrain:
    """Retraining triggers besides `every` (`retrain_every`), core/retrain.py."""

    drift: frozenset[str] = frozenset()  # datasets whose failed or warned drift checks ask
    live: bool = False  # a live-degradation decision (staged rollout) asks
    live_bounds: tuple[LiveBound, ...] = ()
    plateau: Plateau | None = None
    debounce_ms: int = 0


@dataclass(frozen=True, slots=True)
class ModelGateSpec:
    gate: GateInfo
    model: str
    datasets: frozenset[str]
    required_metrics: tuple[str, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    primary: PrimaryMetric | None = None
    retrain_every: int | None = None
    rollout: Rollout | None = None
    retrain: Retrain | None = None
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
    #: staged rollout: the latest live figure of the guard metric that counted (`Figure.json`)
    last: dict[str, Any] | None = None
    #: staged rollout: a challenger's good intervals so far (at most challenger_windows)
    good: list[dict[str, Any]] = field(default_factory=list)

    def entry(self, crowned: int | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "u": to_jsonable(self.update),
            "s": self.source.model_dump(),
            "st": self.state,
            "r": self.revision,
            "d": self.decision_id,
            "q": self.seq,
            "c": crowned,
        }
        # only with a staged rollout: without one the record is what it always was
        if self.last is not None:
            out["lv"] = self.last
        if self.good:
            out["g"] = self.good
        return out


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
