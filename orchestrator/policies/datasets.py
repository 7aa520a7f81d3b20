"""`gates/datasets/<name>.yaml`: event time and the data gate of one dataset."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, ClassVar, Literal

from pydantic import (
    BaseModel,
    Field,
    field_validator,
)

from orchestrator import __version__
from orchestrator.core import datagate
from orchestrator.core.datagate import DataGate, DataGateSpec
from orchestrator.core.decision import GateInfo
from orchestrator.core.policy import (
    DEFAULT_MAX_OPEN_WINDOWS,
    DEFAULT_MAX_SOURCES,
    DEFAULT_MAX_WINDOW_ARRIVALS,
    KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
    DatasetSpec,
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
        )

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
            version=self.version,
            digest=policy_digest(self),
        )


def gate_factory(spec: DataGateSpec, arrivals_topic: str) -> Callable[[], DataGate]:
    return lambda: DataGate(spec, arrivals_topic, __version__)
