"""Declarative policies in `gates/`, validated at start-up with file, field and reason."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from orchestrator import __version__
from orchestrator.configfile import Problems, load_yaml, validate, yaml_files
from orchestrator.core import access as core_access
from orchestrator.core import datagate, modelspec
from orchestrator.core.access import AccessSpec
from orchestrator.core.datagate import DataGate, DataGateSpec
from orchestrator.core.decision import GateInfo
from orchestrator.core.digest import digest
from orchestrator.core.modelspec import ModelGateSpec
from orchestrator.core.policy import (
    DEFAULT_MAX_OPEN_WINDOWS,
    DEFAULT_MAX_SOURCES,
    DEFAULT_MAX_WINDOW_ARRIVALS,
    KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
    DatasetSpec,
    window_bytes_for,
)
from orchestrator.core.timeutil import parse_duration_ms
from orchestrator.errors import ConfigError
from orchestrator.secrets import MIN_KEY_BYTES, check_key, read_secret_file

_STRICT = ConfigDict(frozen=True, extra="forbid")
M = TypeVar("M", bound=BaseModel)
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

    _dur = field_validator("out_of_orderness", "allowed_lateness")(_duration)

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


class Threshold(BaseModel):
    model_config = _STRICT
    min: float | None = None
    max: float | None = None


class PrimaryMetric(BaseModel):
    model_config = _STRICT
    name: Name
    direction: Literal["max", "min"]
    tolerance: Annotated[float, Field(ge=0)] = 0.0


class Guard(BaseModel):
    model_config = _STRICT
    metric: Name
    direction: Literal["max", "min"]
    tolerance: Annotated[float, Field(ge=0)] = 0.0


class Rollout(BaseModel):
    """Staged rollout on live metrics (`model.performance`), SPEC §4."""

    model_config = _STRICT
    challenger_windows: Annotated[int, Field(ge=1, le=1000)]
    min_samples: Annotated[int, Field(ge=0)] = 0
    guard: Guard


class ModelPolicy(BaseModel):
    """`gates/models/<name>.yaml` (SPEC §8)."""

    model_config = _STRICT
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


class Grant(BaseModel):
    model_config = _STRICT
    action: Literal["rollback", "override"]
    #: model names, or "*" for every model
    models: list[Name | Literal["*"]]


class Actor(BaseModel):
    model_config = _STRICT
    key_env: Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")] | None = None
    key_file: str | None = None
    allow: list[Grant] = []


class AccessPolicy(BaseModel):
    """`gates/access.yaml`: who may do what to which model, and where each actor's key lives."""

    model_config = _STRICT
    kind: Literal["access"]
    version: Annotated[int, Field(ge=1)]
    #: a command issued longer ago than this, by its record's broker time, is denied
    max_command_age: str = "PT15M"
    actors: dict[Name, Actor] = {}

    _age = field_validator("max_command_age")(_duration)

    def spec(self, keys: dict[str, bytes]) -> AccessSpec:
        grants = frozenset(
            core_access.Grant(actor, g.action, m)
            for actor, a in self.actors.items()
            for g in a.allow
            for m in g.models
        )
        return AccessSpec(
            GateInfo("access", self.version, policy_digest(self)),
            grants,
            tuple(sorted(keys.items())),
            parse_duration_ms(self.max_command_age),
        )

    def resolve_keys(self, environ: Mapping[str, str], base: Path) -> dict[str, bytes]:
        """Each actor's HMAC key from the environment variable or file its entry names; actors
        whose key is absent are left out (see `missing_keys`). A key file readable by group or
        others, or a key shorter than MIN_KEY_BYTES, is refused (ConfigError)."""
        keys: dict[str, bytes] = {}
        for actor, a in self.actors.items():
            if a.key_env and environ.get(a.key_env):
                keys[actor] = check_key(environ[a.key_env].encode(), "(environment)", a.key_env)
            elif a.key_file:
                path = Path(a.key_file) if Path(a.key_file).is_absolute() else base / a.key_file
                if path.exists():
                    keys[actor] = read_secret_file(
                        path, f"actors.{actor}.key_file", min_bytes=MIN_KEY_BYTES
                    )
        return keys

    def missing_keys(self, keys: Mapping[str, bytes]) -> dict[str, str]:
        """Actors whose key is not available, and where it was looked for."""
        return {
            actor: f"environment variable {a.key_env}" if a.key_env else f"file {a.key_file}"
            for actor, a in sorted(self.actors.items())
            if actor not in keys
        }


class Policies:
    """Everything loaded from the gates directory, validated as a whole."""

    def __init__(
        self,
        datasets: dict[str, DatasetPolicy],
        models: dict[str, ModelPolicy],
        access: AccessPolicy,
    ) -> None:
        self.datasets = datasets
        self.models = models
        self.access = access

    def dataset_specs(
        self, record_limit: int = KAFKA_DEFAULT_MAX_MESSAGE_BYTES
    ) -> dict[str, DatasetSpec]:
        """Per dataset, its event-time spec (`record_limit`: see DatasetPolicy.spec)."""
        return {name: p.spec(record_limit) for name, p in self.datasets.items()}

    def fanout(self) -> dict[str, list[str]]:
        """The data → model fan-out: dataset -> the models whose policy lists it, by name."""
        out: dict[str, list[str]] = {}
        for model, policy in sorted(self.models.items()):
            for ds in policy.datasets:
                out.setdefault(ds, []).append(model)
        return out

    def data_gates(self, arrivals_topic: str) -> dict[str, Callable[[], DataGate]]:
        """Per dataset, a factory of its data gate (one gate per partition engine)."""
        return {
            name: _gate_factory(p.gate_spec(), arrivals_topic) for name, p in self.datasets.items()
        }

    @classmethod
    def load(cls, gates_dir: Path) -> Policies:
        """Every file of `gates_dir`; a ConfigError names every problem of every file."""
        problems = Problems()
        datasets = _load_named(gates_dir / "datasets", DatasetPolicy, problems)
        datasets_ok = not problems.found  # else a model may name a dataset whose file is bad
        models_dir = gates_dir / "models"
        models = _load_named(models_dir, ModelPolicy, problems) if models_dir.is_dir() else {}
        models_ok = not problems.found
        for name, policy in models.items():
            unknown = [d for d in policy.datasets if d not in datasets]
            if unknown and datasets_ok:
                problems.add(
                    str(models_dir / f"{name}.yaml"), "datasets", f"no dataset policy for {unknown}"
                )
        access = AccessPolicy(kind="access", version=1)
        access_path = gates_dir / "access.yaml"
        if access_path.is_file():
            with problems.collect():
                access = validate(AccessPolicy, load_yaml(access_path), access_path)
            for actor, spec in access.actors.items():
                if (spec.key_env is None) == (spec.key_file is None):
                    problems.add(
                        str(access_path),
                        f"actors.{actor}",
                        "set exactly one of key_env or key_file",
                    )
                for i, grant in enumerate(spec.allow):
                    unknown = [m for m in grant.models if m not in models and m != "*"]
                    if unknown and models_ok:
                        problems.add(
                            str(access_path),
                            f"actors.{actor}.allow.{i}.models",
                            f"no model policy for {unknown}",
                        )
        problems.raise_if_any()
        return cls(datasets, models, access)


def _load_named(directory: Path, model: type[M], problems: Problems) -> dict[str, M]:
    """Load `<name>.yaml` files whose `name` field matches the file name; a file with problems
    adds them to `problems` and is left out."""
    out: dict[str, M] = {}
    for path in yaml_files(directory):
        with problems.collect():
            policy = validate(model, load_yaml(path), path)
            name = policy.name  # type: ignore[attr-defined]
            if path.stem != name:
                raise ConfigError(str(path), "name", f"must match the file name ({path.stem!r})")
            out[name] = policy
    return out


#: keys added to a policy after decisions were recorded under it: at their default they are
#: left out of its digest, so that its decisions keep their ids
_LATER_KEYS: dict[type[BaseModel], dict[str, object]] = {
    ModelPolicy: {"rollout": None},
    DatasetPolicy: {
        "max_sources": DEFAULT_MAX_SOURCES,
        "max_window_arrivals": DEFAULT_MAX_WINDOW_ARRIVALS,
    },
}


def policy_digest(policy: BaseModel) -> str:
    """Content digest recorded with every decision the policy makes. A key added later that
    is at its default is left out (the policy digests as it did before the key existed)."""
    dumped = policy.model_dump(mode="json")
    for key, default in _LATER_KEYS.get(type(policy), {}).items():
        if dumped.get(key) == default:
            del dumped[key]
    return digest(dumped)


def _gate_factory(spec: DataGateSpec, arrivals_topic: str) -> Callable[[], DataGate]:
    return lambda: DataGate(spec, arrivals_topic, __version__)
