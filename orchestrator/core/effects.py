"""What the event-time core asks the shell to do, as plain data (STYLE: handle(event) -> effects).

Effects are built several per input event, so they are slotted dataclasses without `frozen`:
a frozen dataclass sets each field through `object.__setattr__`, 3x the cost of construction
(~0.3 µs more per effect). Nothing changes an effect after the core returns it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.contracts.events import DataArrival
from orchestrator.contracts.records import AuditDecision, Check, TrainingRequested, WindowManifest


@dataclass(slots=True)
class Accepted:
    """The arrival was added to its window."""

    dataset: str
    event_id: str
    window_id: str


@dataclass(slots=True)
class Duplicate:
    """Same event_id, same content: ignored and counted."""

    dataset: str
    event_id: str
    window_id: str


@dataclass(slots=True)
class Rejected:
    """Not applied: goes to the dlq with `code` (E_DUPLICATE_CONFLICT, E_UNKNOWN_DATASET)."""

    dataset: str
    event_id: str
    code: str
    message: str


@dataclass(slots=True)
class TooLate:
    """The arrival's window is past end + L: goes to `data.late`, changes nothing."""

    event: DataArrival
    code: str
    window_id: str
    watermark_ms: int
    partition: int
    offset: int


@dataclass(slots=True)
class WindowFired:
    """A window revision fired: its manifest goes to `data.windows` and the data gate."""

    manifest: WindowManifest
    #: the manifest's wire fields, JSON-ready in wire order (what `encode(manifest)` writes,
    #: built by the core from the same values; `contracts.wire.wire_json` gives the bytes)
    wire: dict[str, Any]


@dataclass(slots=True)
class Decided:
    """A gate decided: the decision goes to `audit.decisions` (and on to whoever depends on it)."""

    decision: AuditDecision


@dataclass(slots=True)
class Notified:
    """The data → model fan-out: the model gate of `model` (whose policy lists the window's
    dataset) must hear of this data decision, through `models.log`."""

    model: str
    window_id: str
    outcome: str
    decision_id: str
    #: the decision's failed drift checks (None: none)
    drift: list[Check] | None = None


@dataclass(slots=True)
class ChampionChanged:
    """`models.champions` must now say `version` (None: no champion) for `model`, and its
    staged rollout's `challenger` (None: none)."""

    model: str
    version: str | None
    decision_id: str
    challenger: str | None = None


@dataclass(slots=True)
class TrainingRequest:
    """A model policy asks for retraining on the named promoted windows."""

    request: TrainingRequested


@dataclass(slots=True)
class WindowDropped:
    """The window's state was dropped at WM >= end + L."""

    dataset: str
    window_id: str


@dataclass(slots=True)
class WatermarkAdvanced:
    """The dataset watermark moved forward."""

    dataset: str
    watermark_ms: int


@dataclass(slots=True)
class StatePut:
    """Persist `value` (JSON-able) under `key` in the partition's state changelog."""

    key: str
    value: Any


@dataclass(slots=True)
class StateDelete:
    """Remove `key` from the partition's state changelog."""

    key: str


Effect = (
    Accepted
    | Duplicate
    | Rejected
    | TooLate
    | WindowFired
    | Decided
    | Notified
    | ChampionChanged
    | TrainingRequest
    | WindowDropped
    | WatermarkAdvanced
    | StatePut
    | StateDelete
)
