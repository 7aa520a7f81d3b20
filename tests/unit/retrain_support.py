"""The churn gate of modelgate_support with retraining triggers, and what the retraining tests
read from its effects: the requests, the training decisions, a notice carrying a drift check."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from orchestrator.contracts.modellog import DataNotice
from orchestrator.contracts.records import Check
from orchestrator.core.effects import Decided, Effect, TrainingRequest
from orchestrator.core.modelgate import ModelGate
from orchestrator.core.modelspec import Retrain
from orchestrator.errors import E_DRIFT
from tests.unit.modelgate_support import AT, SRC, W1

#: a failed drift check of clicks' amount, as a data notice carries it
DRIFT = Check(
    name="drift.amount.psi",
    passed=False,
    severity="warn",
    observed={"value": 0.4, "count": 10, "reference_count": 20, "reference": [W1]},
    expected={"max": 0.2},
    code=E_DRIFT,
)


def with_retrain(g: ModelGate, **kw: Any) -> ModelGate:
    """`g`'s spec with these triggers (`Retrain` fields)."""
    return ModelGate(replace(g.spec, retrain=Retrain(**kw)), g.access, g.version)


def requests(effects: list[Effect]) -> list[Any]:
    return [e.request for e in effects if isinstance(e, TrainingRequest)]


def training(effects: list[Effect]) -> list[Any]:
    return [
        e.decision
        for e in effects
        if isinstance(e, Decided) and e.decision.subject.kind == "training"
    ]


def drifted(g: ModelGate, window: str, checks: list[Check] | None = None) -> list[Effect]:
    """A promote notice of `window` carrying `checks` (default: DRIFT) as its failed drift."""
    notice = DataNotice(
        window_id=window,
        outcome="promote",
        decision_id=f"d-{window}",
        source=SRC,
        drift=[DRIFT] if checks is None else checks,
    )
    return g.handle(notice, SRC, AT)
