"""Topic specs (one YAML file per topic) and the catalog that maps roles to names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from orchestrator.configfile import Problems, load_yaml, validate, yaml_files
from orchestrator.contracts.roles import INPUT_ROLES, ROLES, Role
from orchestrator.contracts.schema import ALL_SCHEMAS
from orchestrator.core.policy import KAFKA_DEFAULT_MAX_MESSAGE_BYTES
from orchestrator.core.timeutil import parse_duration_ms
from orchestrator.errors import ConfigError, ConfigProblem

#: Input roles' record times must be the broker's (LogAppendTime), unless the worker runs
#: with record_time=producer. Kafka's topic config for who sets a record's time:
TIMESTAMP_TYPE = "message.timestamp.type"


TopicName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,249}$")]


class TopicSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["topic"]
    role: Role
    name: TopicName
    partitions: Annotated[int, Field(ge=1, le=10_000)]
    replication: Annotated[int, Field(ge=1, le=32)]
    retention: str = Field(description="ISO 8601 duration, or 'unlimited'")
    cleanup_policy: Literal["delete", "compact", "compact,delete"]
    key: str
    value: list[str]
    #: the topic's `max.message.bytes` (a record batch at most); None: the broker's default
    max_message_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] | None = None
    #: who sets a record's time: the broker when it appends it (LogAppendTime) or the sender
    #: (CreateTime, Kafka's default); None: the broker's default
    timestamp_type: Literal["CreateTime", "LogAppendTime"] | None = None
    #: the topic's `min.insync.replicas` (None: the broker's default)
    min_insync_replicas: Annotated[int, Field(ge=1, le=32)] | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _min_insync(self) -> TopicSpec:
        if self.min_insync_replicas is not None and self.min_insync_replicas > self.replication:
            raise ValueError(
                f"min_insync_replicas {self.min_insync_replicas} is more than the replication "
                f"{self.replication} (no write could ever be acknowledged)"
            )
        return self

    @field_validator("retention")
    @classmethod
    def _retention(cls, v: str) -> str:
        if v != "unlimited":
            parse_duration_ms(v)
        return v

    @field_validator("value")
    @classmethod
    def _value(cls, v: list[str]) -> list[str]:
        unknown = [t for t in v if t not in ALL_SCHEMAS and t not in ("state.entry", "model.log")]
        if unknown:
            raise ValueError(f"unknown value type(s) {unknown}; known: {sorted(ALL_SCHEMAS)}")
        return v

    @property
    def retention_ms(self) -> int:
        return -1 if self.retention == "unlimited" else parse_duration_ms(self.retention)

    def broker_configs(self) -> dict[str, str]:
        """The topic-level configs we set at creation and verify afterwards."""
        configs = {"cleanup.policy": self.cleanup_policy, "retention.ms": str(self.retention_ms)}
        if self.max_message_bytes is not None:
            configs["max.message.bytes"] = str(self.max_message_bytes)
        if self.timestamp_type is not None:
            configs[TIMESTAMP_TYPE] = self.timestamp_type
        if self.min_insync_replicas is not None:
            configs["min.insync.replicas"] = str(self.min_insync_replicas)
        return configs

    @property
    def message_limit(self) -> int:
        """The largest record batch the topic takes (Apache Kafka's default when unset)."""
        return self.max_message_bytes or KAFKA_DEFAULT_MAX_MESSAGE_BYTES


class Catalog:
    """All topic specs, by role. Every role must be present exactly once."""

    def __init__(self, specs: dict[Role, TopicSpec], files: dict[Role, Path]) -> None:
        self.specs = specs
        self.files = files

    def name(self, role: Role) -> str:
        return self.specs[role].name

    def for_environment(self, replication: int | None, min_insync: int | None) -> Catalog:
        """The catalog with this environment's replication factor and `min.insync.replicas` on
        every topic (each None: as the files say). A topic whose `min.insync.replicas` would
        exceed its replication is refused (ConfigError naming its file)."""
        update: dict[str, int] = {}
        if replication is not None:
            update["replication"] = replication
        if min_insync is not None:
            update["min_insync_replicas"] = min_insync
        if not update:
            return self
        specs = {role: spec.model_copy(update=update) for role, spec in self.specs.items()}
        problems = [
            ConfigProblem(
                str(self.files[role]),
                "min_insync_replicas",
                f"{spec.min_insync_replicas} is more than the replication {spec.replication}",
            )
            for role, spec in specs.items()
            if spec.min_insync_replicas is not None and spec.min_insync_replicas > spec.replication
        ]
        if problems:
            raise ConfigError.of(problems)
        return Catalog(specs, self.files)

    def limits(self) -> dict[Role, int]:
        """Role -> the largest record its topic takes."""
        return {role: spec.message_limit for role, spec in self.specs.items()}

    def window_record_limit(self) -> int:
        """The largest record both a window's manifest and its decision must fit."""
        return min(self.specs["windows"].message_limit, self.specs["audit"].message_limit)

    def producer_timed(self) -> list[str]:
        """Input topics whose record times the sender sets (not LogAppendTime), as
        `FILE: timestamp_type: ...` lines."""
        return [
            f"{self.files[r]}: timestamp_type: {self.specs[r].timestamp_type or 'not set'} "
            f"(topic {self.specs[r].name}): the sender sets its record times"
            for r in INPUT_ROLES
            if self.specs[r].timestamp_type != "LogAppendTime"
        ]

    def __iter__(self) -> Iterator[TopicSpec]:
        return iter(self.specs[r] for r in ROLES)

    @classmethod
    def load(cls, directory: Path) -> Catalog:
        """Every file of `directory`; a ConfigError names every problem of every file."""
        specs: dict[Role, TopicSpec] = {}
        files: dict[Role, Path] = {}
        names: dict[str, Path] = {}
        problems = Problems()
        for path in yaml_files(directory):
            with problems.collect():
                spec = validate(TopicSpec, load_yaml(path), path)
                if spec.role in specs:
                    problems.add(
                        str(path),
                        "role",
                        f"role {spec.role!r} is already defined in {files[spec.role]}",
                    )
                if spec.name in names:
                    problems.add(
                        str(path),
                        "name",
                        f"topic {spec.name!r} is already defined in {names[spec.name]}",
                    )
                specs.setdefault(spec.role, spec)
                files.setdefault(spec.role, path)
                names.setdefault(spec.name, path)
        # a role is missing for sure only when every file could be read
        missing = [r for r in ROLES if r not in specs]
        if missing and not problems.found:
            problems.add(str(directory), "role", f"no topic file for role(s) {missing}")
        for state_role, input_role in (
            ("eventtime_state", "arrivals"),
            ("model_state", "model_log"),
        ):
            if state_role not in specs or input_role not in specs:
                continue
            state, source = specs[state_role], specs[input_role]
            if state.partitions != source.partitions:
                problems.add(
                    str(files[state_role]),
                    "partitions",
                    f"must equal the partitions of {source.name} ({source.partitions}): "
                    "the changelog is co-partitioned with its input",
                )
        problems.raise_if_any()
        return cls(specs, files)
