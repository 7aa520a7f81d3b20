"""`gates/models/<name>.yaml`: the model gate of one model (SPEC §8)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import (
    BaseModel,
    Field,
    model_validator,
)

from orchestrator.core import modelspec
from orchestrator.core.decision import GateInfo
from orchestrator.core.modelspec import ModelGateSpec
from orchestrator.policies.common import STRICT, Name, policy_digest


class Threshold(BaseModel):
    model_config = STRICT
    min: float | None = None
    max: float | None = None


class PrimaryMetric(BaseModel):
    model_config = STRICT
    name: Name
    direction: Literal["max", "min"]
    tolerance: Annotated[float, Field(ge=0)] = 0.0


class Guard(BaseModel):
    model_config = STRICT
    metric: Name
    direction: Literal["max", "min"]
    tolerance: Annotated[float, Field(ge=0)] = 0.0


class Rollout(BaseModel):
    """Staged rollout on live metrics (`model.performance`), SPEC §4."""

    model_config = STRICT
    challenger_windows: Annotated[int, Field(ge=1, le=1000)]
    min_samples: Annotated[int, Field(ge=0)] = 0
    guard: Guard


class ModelPolicy(BaseModel):
    """`gates/models/<name>.yaml` (SPEC §8)."""

    model_config = STRICT
    #: keys added after decisions were recorded under the policy (see `policy_digest`)
    LATER_KEYS: ClassVar[dict[str, object]] = {"rollout": None}
    kind: Literal["model"]
    name: Name
    version: Annotated[int, Field(ge=1)]
    datasets: list[Name]
    required_metrics: list[Name] = []
    thresholds: dict[Name, Threshold] = {}
    primary_metric: PrimaryMetric | None = None
    retrain_every: Annotated[int, Field(ge=1)] | None = None
    rollout: Rollout | None = None
    #: bounds of what the model gate remembers (see core/modelstate.py)
    max_versions: Annotated[int, Field(ge=2, le=1_000_000)] = 1000
    max_windows: Annotated[int, Field(ge=1, le=10_000_000)] = 10_000
    max_event_ids: Annotated[int, Field(ge=1, le=10_000_000)] = 100_000

    @model_validator(mode="after")
    def _guard_is_validated(self) -> ModelPolicy:
        # the guard's fallback baseline is the version's own validation figure: it must exist
        if self.rollout and self.rollout.guard.metric not in self.required_metrics:
            raise ValueError(
                f"rollout.guard.metric {self.rollout.guard.metric!r} must be one of "
                f"required_metrics {self.required_metrics}"
            )
        return self

    def gate_spec(self) -> ModelGateSpec:
        """The frozen spec the model gate runs on."""
        return ModelGateSpec(
            gate=GateInfo(f"model/{self.name}", self.version, policy_digest(self)),
            model=self.name,
            datasets=frozenset(self.datasets),
            required_metrics=tuple(self.required_metrics),
            thresholds=tuple(
                modelspec.Threshold(m, t.min, t.max) for m, t in sorted(self.thresholds.items())
            ),
            primary=modelspec.PrimaryMetric(
                self.primary_metric.name,
                self.primary_metric.direction,
                self.primary_metric.tolerance,
            )
            if self.primary_metric
            else None,
            retrain_every=self.retrain_every,
            rollout=modelspec.Rollout(
                self.rollout.challenger_windows,
                self.rollout.min_samples,
                modelspec.Guard(
                    self.rollout.guard.metric,
                    self.rollout.guard.direction,
                    self.rollout.guard.tolerance,
                ),
            )
            if self.rollout
            else None,
            max_versions=self.max_versions,
            max_windows=self.max_windows,
            max_event_ids=self.max_event_ids,
        )
