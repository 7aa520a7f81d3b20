"""One frozen settings object, built once in the CLI and passed down. Library code never reads env."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

EMBEDDED = "embedded"


class Settings(BaseSettings):
    """`ORCHESTRATOR_*` environment variables; CLI flags override them."""

    model_config = SettingsConfigDict(env_prefix="ORCHESTRATOR_", frozen=True, extra="ignore")

    broker: str = Field(
        default=EMBEDDED,
        description="Kafka bootstrap servers (host:port[,host:port]) or 'embedded'",
    )
    gates_dir: Path = Path("gates")
    topics_dir: Path = Path("topics")
    app_id: str = "ml-orchestrator"
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    state_dir: Path = Path(".run/state")
    #: Idempotent producer: 'auto' asks the broker (InitProducerId) and turns it on where it is
    #: granted (Apache Kafka), off where it is not (the embedded broker).
    idempotent_producer: Literal["auto", "on", "off"] = "auto"
    #: at_least_once (default): outputs may repeat after a fault, never conflict or go missing.
    #: exactly_once (Apache Kafka): outputs, state and offsets in one transaction per checkpoint.
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    #: seconds between checkpoints of a worker's state (outputs acknowledged, then state)
    checkpoint_interval_s: float = Field(default=0.2, gt=0, le=60)
    #: how long a worker waits for an unreachable broker before it exits (0: for ever)
    max_broker_outage_s: float = Field(default=900.0, ge=0)
    #: how long a Kafka request may take before it counts as failed
    kafka_request_timeout_ms: int = Field(default=30_000, ge=1000, le=600_000)
    #: how long a silent worker keeps its partitions before the group gives them to others
    kafka_session_timeout_ms: int = Field(default=10_000, ge=6000, le=300_000)

    @property
    def is_embedded(self) -> bool:
        return self.broker == EMBEDDED
