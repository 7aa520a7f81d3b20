"""Declarative policies in `gates/`, validated at start-up with file, field and reason."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from orchestrator.configfile import load_yaml, validate, yaml_files
from orchestrator.core.digest import digest
from orchestrator.core.policy import DatasetSpec
from orchestrator.core.timeutil import parse_duration_ms
from orchestrator.errors import ConfigError

_STRICT = ConfigDict(frozen=True, extra="forbid")
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,200}$")]
Severity = Literal["error", "warn"]


def _duration(v: str) -> str:
    parse_duration_ms(v)
    return v


class RecordCountCheck(BaseModel):
    model_config = _STRICT
    min: Annotated[int, Field(ge=0)] = 0
    max: Annotated[int, Field(ge=0)] | None = None
    severity: Severity = "error"


class SchemaFingerprintCheck(BaseModel):
    model_config = _STRICT
    equals: str
    severity: Severity = "error"


class VolumeDriftCheck(BaseModel):
    model_config = _STRICT
    last: Annotated[int, Field(ge=1, le=10_000)]
    max_ratio: Annotated[float, Field(gt=1.0)]
    severity: Severity = "warn"


class DatasetChecks(BaseModel):
    model_config = _STRICT
    record_count: RecordCountCheck | None = None
    schema_fingerprint: SchemaFingerprintCheck | None = None
    volume_drift: VolumeDriftCheck | None = None
    completeness: Literal["error", "warn"] = "error"


class DatasetPolicy(BaseModel):
    """`gates/datasets/<name>.yaml` (SPEC §8)."""

    model_config = _STRICT
    kind: Literal["dataset"]
    name: Name
    version: Annotated[int, Field(ge=1)]
    window: str
    out_of_orderness: str
    allowed_lateness: str
    required_sources: list[Name] | None = None
    idle_timeout: str | None = None
    expected_by: str | None = None
    checks: DatasetChecks = DatasetChecks()

    @field_validator("window")
    @classmethod
    def _window(cls, v: str) -> str:
        ms = parse_duration_ms(v)
        if ms <= 0 or ms % 1000:
            raise ValueError("must be a positive whole number of seconds")
        return v

    _dur = field_validator("out_of_orderness", "allowed_lateness")(_duration)

    @field_validator("idle_timeout", "expected_by")
    @classmethod
    def _opt_duration(cls, v: str | None) -> str | None:
        if v is not None and parse_duration_ms(v) <= 0:
            raise ValueError("must be a positive duration")
        return v

    def spec(self) -> DatasetSpec:
        return DatasetSpec(
            name=self.name,
            window_ms=parse_duration_ms(self.window),
            out_of_orderness_ms=parse_duration_ms(self.out_of_orderness),
            allowed_lateness_ms=parse_duration_ms(self.allowed_lateness),
            required_sources=frozenset(self.required_sources or ()),
            idle_timeout_ms=parse_duration_ms(self.idle_timeout) if self.idle_timeout else None,
            expected_by_ms=parse_duration_ms(self.expected_by) if self.expected_by else None,
            version=self.version,
            digest=digest(self.model_dump(mode="json")),
        )


class Policies:
    """Everything loaded from the gates directory."""

    def __init__(self, datasets: dict[str, DatasetPolicy]) -> None:
        self.datasets = datasets

    def dataset_specs(self) -> dict[str, DatasetSpec]:
        return {name: p.spec() for name, p in self.datasets.items()}

    @classmethod
    def load(cls, gates_dir: Path) -> Policies:
        datasets: dict[str, DatasetPolicy] = {}
        seen: dict[str, Path] = {}
        for path in yaml_files(gates_dir / "datasets"):
            policy = validate(DatasetPolicy, load_yaml(path), path)
            if policy.name in seen:
                raise ConfigError(
                    str(path),
                    "name",
                    f"dataset {policy.name!r} is already defined in {seen[policy.name]}",
                )
            if path.stem != policy.name:
                raise ConfigError(str(path), "name", f"must match the file name ({path.stem!r})")
            datasets[policy.name] = policy
            seen[policy.name] = path
        return cls(datasets)
