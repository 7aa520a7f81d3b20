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

    @property
    def is_embedded(self) -> bool:
        return self.broker == EMBEDDED

    def with_broker(self, bootstrap: str) -> Settings:
        """A copy pointing at a concrete bootstrap address (after the embedded broker started)."""
        return self.model_copy(update={"broker": bootstrap})
