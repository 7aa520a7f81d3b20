"""`gates/datasets/<name>.yaml`: event time and the data gate of one dataset."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Annotated, ClassVar, Literal

from pydantic import (
    BaseModel,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from orchestrator import __version__
from orchestrator.contracts.events import MAX_PROFILE_COLUMNS, MAX_PROFILE_POINTS
from orchestrator.core import datagate
from orchestrator.core import drift as drifts
from orchestrator.core.datagate import DataGate, DataGateSpec
from orchestrator.core.decision import GateInfo
from orchestrator.core.drift import MAX_DRIFT_HISTORY
from orchestrator.core.policy import (
    DEFAULT_MAX_OPEN_WINDOWS,
    DEFAULT_MAX_SOURCES,
    DEFAULT_MAX_WINDOW_ARRIVALS,
    KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
    DatasetSpec,
    ProfileColumn,
    window_bytes_for,
)
from orchestrator.core.timeutil import parse_duration_ms
from orchestrator.policies.common import STRICT, Name, Severity, duration, policy_digest


class RecordCountCheck(BaseModel):
    model_config = STRICT
    min: Annotated[int, Field(ge=0)] = 0
    max: Annotated[int, Field(ge=0)] | None = None
    severity: Severity = "error"


class SchemaFingerprintCheck(BaseModel):
    model_config = STRICT
    equals: str
    severity: Severity = "error"


class VolumeDriftCheck(BaseModel):
    model_config = STRICT
    last: Annotated[int, Field(ge=1, le=10_000)]
    max_ratio: Annotated[float, Field(gt=1.0)]
    severity: Severity = "warn"


class ProfileColumnPolicy(BaseModel):
    """A column of the data profile: bin edges (increasing), quantile probabilities (strictly
    increasing, in (0, 1)), or both."""

    model_config = STRICT
    bins: Annotated[list[float], Field(min_length=1, max_length=MAX_PROFILE_POINTS)] | None = None
    quantiles: Annotated[list[float], Field(min_length=1, max_length=MAX_PROFILE_POINTS)] | None = (
        None
    )

    @model_validator(mode="after")
    def _shape(self) -> ProfileColumnPolicy:
        for name, xs in (("bins", self.bins), ("quantiles", self.quantiles)):
            if xs is not None and any(a >= b for a, b in pairwise(xs)):
                raise ValueError(f"{name} must be strictly increasing")
        if self.quantiles is not None and not 0 < self.quantiles[0] <= self.quantiles[-1] < 1:
            raise ValueError("quantiles must lie strictly between 0 and 1")
        if self.bins is None and self.quantiles is None:
            raise ValueError("a profile column declares bins, quantiles or both")
        return self


class DriftBound(BaseModel):
    model_config = STRICT
    max: Annotated[float, Field(ge=0)]
    severity: Severity = "warn"


class DriftColumn(BaseModel):
    """The drift checks of one column: each statistic's upper bound."""

    model_config = STRICT
    psi: DriftBound | None = None
    ks: DriftBound | None = None
    mean_shift: DriftBound | None = None


class DriftReference(BaseModel):
    """What a window is compared with: the merged profile of the last `last` promoted windows,
    or one pinned `window` (by id) once it is promoted."""

    model_config = STRICT
    last: Annotated[int, Field(ge=1, le=MAX_DRIFT_HISTORY)] | None = None
    window: str | None = None

    @model_validator(mode="after")
    def _one(self) -> DriftReference:
        if (self.last is None) == (self.window is None):
            raise ValueError("name exactly one of last or window")
        return self


class DriftPolicy(BaseModel):
    model_config = STRICT
    reference: DriftReference
    columns: Annotated[dict[Name, DriftColumn], Field(min_length=1)]


class DatasetChecks(BaseModel):
    model_config = STRICT
    record_count: RecordCountCheck | None = None
    schema_fingerprint: SchemaFingerprintCheck | None = None
    volume_drift: VolumeDriftCheck | None = None
    completeness: Literal["error", "warn"] = "error"


class DatasetPolicy(BaseModel):
    """`gates/datasets/<name>.yaml` (SPEC §8)."""

    model_config = STRICT
    #: keys added after decisions were recorded under the policy: at their default they are
    #: left out of its digest, so that those decisions keep their ids (`policy_digest`)
    LATER_KEYS: ClassVar[dict[str, object]] = {
        "max_sources": DEFAULT_MAX_SOURCES,
        "max_window_arrivals": DEFAULT_MAX_WINDOW_ARRIVALS,
        "profile": None,
        "drift": None,
    }
    kind: Literal["dataset"]
    name: Name
    version: Annotated[int, Field(ge=1)]
    window: str
    out_of_orderness: str
    allowed_lateness: str
    required_sources: list[Name] | None = None
    idle_timeout: str | None = None
    expected_by: str | None = None
    #: event time ahead of the record's broker timestamp by more is refused (E_FUTURE_EVENT);
    #: "none" turns the bound off
    max_future_skew: str = "PT1H"
    #: windows held at most while the watermark does not reach their end (E_WINDOW_LIMIT)
    max_open_windows: Annotated[int, Field(ge=1, le=1_000_000)] = DEFAULT_MAX_OPEN_WINDOWS
    #: sources (watermarks) a dataset keeps at most (E_SOURCE_LIMIT)
    max_sources: Annotated[int, Field(ge=1, le=10_000)] = DEFAULT_MAX_SOURCES
    #: arrivals a window holds at most (E_WINDOW_FULL; its manifest must also fit its topic)
    max_window_arrivals: Annotated[int, Field(ge=1, le=1_000_000)] = DEFAULT_MAX_WINDOW_ARRIVALS
    checks: DatasetChecks = DatasetChecks()
    #: the profile columns kept from arrivals and merged per window (README "Drift")
    profile: (
        Annotated[dict[Name, ProfileColumnPolicy], Field(max_length=MAX_PROFILE_COLUMNS)] | None
    ) = None
    #: drift checks of the data gate over those columns
    drift: DriftPolicy | None = None

    @field_validator("drift")
    @classmethod
    def _drift_columns(cls, drift: DriftPolicy | None, info: ValidationInfo) -> DriftPolicy | None:
        if drift is None:
            return None
        declared: dict[str, ProfileColumnPolicy] = info.data.get("profile") or {}
        for name, col in drift.columns.items():
            where = f"columns.{name}"
            if name not in declared:
                raise ValueError(f"{where}: not a column of `profile`")
            if col.psi is not None and declared[name].bins is None:
                raise ValueError(f"{where}.psi: the column declares no bins")
        return drift

    @field_validator("window")
    @classmethod
    def _window(cls, v: str) -> str:
        ms = parse_duration_ms(v)
        if ms <= 0 or ms % 1000:
            raise ValueError("must be a positive whole number of seconds")
        return v

    _dur = field_validator("out_of_orderness", "allowed_lateness")(duration)

    @field_validator("max_future_skew")
    @classmethod
    def _skew(cls, v: str) -> str:
        if v != "none" and parse_duration_ms(v) < 0:
            raise ValueError("must be a duration or 'none'")
        return v

    @field_validator("idle_timeout", "expected_by")
    @classmethod
    def _opt_duration(cls, v: str | None) -> str | None:
        if v is not None and parse_duration_ms(v) <= 0:
            raise ValueError("must be a positive duration")
        return v

    def gate_spec(self) -> DataGateSpec:
        """The data-gate part: checks and the policy's identity for the audit record."""
        c = self.checks
        return DataGateSpec(
            gate=GateInfo(f"dataset/{self.name}", self.version, policy_digest(self)),
            required_sources=frozenset(self.required_sources or ()),
            completeness_severity=c.completeness,
            record_count=datagate.RecordCount(
                c.record_count.min, c.record_count.max, c.record_count.severity
            )
            if c.record_count
            else None,
            schema_fingerprint=datagate.Fingerprint(
                c.schema_fingerprint.equals, c.schema_fingerprint.severity
            )
            if c.schema_fingerprint
            else None,
            volume_drift=datagate.VolumeDrift(
                c.volume_drift.last, c.volume_drift.max_ratio, c.volume_drift.severity
            )
            if c.volume_drift
            else None,
            profile=self.profile_columns(),
            drift=self.drift_spec(),
        )

    def profile_columns(self) -> tuple[ProfileColumn, ...]:
        return tuple(
            ProfileColumn(
                name,
                tuple(c.bins) if c.bins is not None else None,
                tuple(c.quantiles) if c.quantiles is not None else None,
            )
            for name, c in (self.profile or {}).items()
        )

    def drift_spec(self) -> drifts.Drift | None:
        d = self.drift
        if d is None:
            return None
        checks = tuple(
            drifts.DriftCheck(column, stat, bound.max, bound.severity)
            for column, col in d.columns.items()
            for stat, bound in _stats(col)
            if bound is not None
        )
        return drifts.Drift(d.reference.last, d.reference.window, checks)

    def spec(self, record_limit: int = KAFKA_DEFAULT_MAX_MESSAGE_BYTES) -> DatasetSpec:
        """The event-time spec; `record_limit`: the largest record the windows and audit
        topics take (a window's arrivals are bounded so that its manifest and decision fit)."""
        return DatasetSpec(
            name=self.name,
            window_ms=parse_duration_ms(self.window),
            out_of_orderness_ms=parse_duration_ms(self.out_of_orderness),
            allowed_lateness_ms=parse_duration_ms(self.allowed_lateness),
            required_sources=frozenset(self.required_sources or ()),
            idle_timeout_ms=parse_duration_ms(self.idle_timeout) if self.idle_timeout else None,
            expected_by_ms=parse_duration_ms(self.expected_by) if self.expected_by else None,
            max_future_skew_ms=None
            if self.max_future_skew == "none"
            else parse_duration_ms(self.max_future_skew),
            max_open_windows=self.max_open_windows,
            max_sources=self.max_sources,
            max_window_arrivals=self.max_window_arrivals,
            max_window_bytes=window_bytes_for(record_limit),
            profile=self.profile_columns(),
            version=self.version,
            digest=policy_digest(self),
        )


def _stats(col: DriftColumn) -> list[tuple[drifts.Stat, DriftBound | None]]:
    return [("psi", col.psi), ("ks", col.ks), ("mean_shift", col.mean_shift)]


def gate_factory(spec: DataGateSpec, arrivals_topic: str) -> Callable[[], DataGate]:
    return lambda: DataGate(spec, arrivals_topic, __version__)
