"""Topic specs (one YAML file per topic) and the catalog that maps roles to names."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from orchestrator.configfile import Problems, load_yaml, validate, yaml_files
from orchestrator.contracts.schema import ALL_SCHEMAS
from orchestrator.core.policy import KAFKA_DEFAULT_MAX_MESSAGE_BYTES
from orchestrator.core.timeutil import parse_duration_ms

#: Roles the code refers to; the names are configuration.
ROLES = (
    "arrivals",
    "windows",
    "late",
    "model_updates",
    "champions",
    "commands",
    "audit",
    "training",
    "dlq",
    "eventtime_state",
    "model_log",
    "model_state",
    "snapshots",
)


TopicName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,249}$")]


class TopicSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["topic"]
    role: Literal[
        "arrivals",
        "windows",
        "late",
        "model_updates",
        "champions",
        "commands",
        "audit",
        "training",
        "dlq",
        "eventtime_state",
        "model_log",
        "model_state",
        "snapshots",
    ]
    name: TopicName
    partitions: Annotated[int, Field(ge=1, le=10_000)]
    replication: Annotated[int, Field(ge=1, le=32)]
    retention: str = Field(description="ISO 8601 duration, or 'unlimited'")
    cleanup_policy: Literal["delete", "compact", "compact,delete"]
    key: str
    value: list[str]
    #: the topic's `max.message.bytes` (a record batch at most); None: the broker's default
    max_message_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] | None = None
    description: str | None = None

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
        return configs

    @property
    def message_limit(self) -> int:
        """The largest record batch the topic takes (Apache Kafka's default when unset)."""
        return self.max_message_bytes or KAFKA_DEFAULT_MAX_MESSAGE_BYTES


class Catalog:
    """All topic specs, by role. Every role must be present exactly once."""

    def __init__(self, specs: dict[str, TopicSpec], files: dict[str, Path]) -> None:
        self.specs = specs
        self.files = files

    def name(self, role: str) -> str:
        return self.specs[role].name

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.specs[r] for r in ROLES)

    @classmethod
    def load(cls, directory: Path) -> Catalog:
        """Every file of `directory`; a ConfigError names every problem of every file."""
        specs: dict[str, TopicSpec] = {}
        files: dict[str, Path] = {}
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
