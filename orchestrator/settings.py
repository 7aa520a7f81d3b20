"""One frozen settings object, built once in the CLI and passed down. Library code never reads env.

Where settings come from, strongest first: command-line flags, `ORCHESTRATOR_*` environment
variables, the config file (`--config FILE`, `ORCHESTRATOR_CONFIG`, or `./orchestrator.toml`
when it exists), the defaults below. In the config file the Kafka settings may sit in a
`[kafka]` table (`security_protocol = "SASL_SSL"` there is `kafka_security_protocol`).

Secrets (SASL password, OAuth token, TLS key password) are read from files or the
environment, held as `SecretStr`, and never printed or logged.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

if TYPE_CHECKING:
    from orchestrator.catalog.topics import Catalog

EMBEDDED = "embedded"
CONFIG_FILE = Path("orchestrator.toml")

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
#: one bootstrap address: a host name, an IPv4 address or a bracketed IPv6 one, and a port
_ADDRESS = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")


def config_file_path(explicit: Path | None = None) -> Path | None:
    """The config file to read: the one named (flag, then env), else ./orchestrator.toml if any."""
    if explicit is not None:
        return explicit
    env = os.environ.get("ORCHESTRATOR_CONFIG")
    if env:
        return Path(env)
    return CONFIG_FILE if CONFIG_FILE.is_file() else None


class TomlFile(PydanticBaseSettingsSource):
    """Settings from a TOML file; a `[kafka]` table is flattened into `kafka_*` fields."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns everything at once

    def __call__(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        from orchestrator.errors import ConfigError, ConfigProblem

        try:
            data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(str(self.path), "(file)", exc.strerror or str(exc)) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(self.path), "(file)", f"invalid TOML: {exc}") from None
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key == "kafka" and isinstance(value, dict):
                out.update({f"kafka_{k}": v for k, v in value.items()})
            else:
                out[key] = value
        unknown = sorted(set(out) - set(self.settings_cls.model_fields))
        if unknown:
            raise ConfigError.of(
                ConfigProblem(str(self.path), u, "unknown setting") for u in unknown
            )
        return out


class Settings(BaseSettings):
    """`ORCHESTRATOR_*` environment variables and the config file; CLI flags override them."""

    model_config = SettingsConfigDict(env_prefix="ORCHESTRATOR_", frozen=True, extra="ignore")

    broker: str = Field(
        default=EMBEDDED,
        description="Kafka bootstrap servers (host:port[,host:port]) or 'embedded'",
    )
    gates_dir: Path = Path("gates")
    topics_dir: Path = Path("topics")
    app_id: str = "ml-orchestrator"
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    state_dir: Path = Path(".run/state")
    #: the worker's data directory (Faust creates one on start; it holds nothing we rely on):
    #: it must be writable by the worker's user. Default: <temp dir>/orchestrator-<uid>.
    data_dir: Path | None = None
    #: the audit index (orchestrator audit index|sql|export; history and friends use it if it
    #: exists); default: .run/audit-<audit topic>.duckdb, one per topic catalog
    audit_index: Path | None = None
    #: Idempotent producer: 'auto' asks the broker (InitProducerId) and turns it on where it is
    #: granted (Apache Kafka), off where it is not (the embedded broker).
    idempotent_producer: Literal["auto", "on", "off"] = "auto"
    #: at_least_once (default): outputs may repeat after a fault, never conflict or go missing.
    #: exactly_once (Apache Kafka): outputs, state and offsets in one transaction per checkpoint.
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    #: seconds between checkpoints of a worker's state (outputs acknowledged, then state)
    checkpoint_interval_s: float = Field(default=0.2, gt=0, le=60)
    #: seconds between snapshots of each partition's state (what `replay --since` starts
    #: from instead of offset 0); 0: none
    snapshot_interval_s: float = Field(default=300.0, ge=0)
    #: how long a worker waits for an unreachable broker before it exits (0: for ever)
    max_broker_outage_s: float = Field(default=900.0, ge=0)
    #: how long a Kafka request may take before it counts as failed
    kafka_request_timeout_ms: int = Field(default=30_000, ge=1000, le=600_000)
    #: how long the worker's producers wait to fill a batch before sending it: latency against
    #: requests per second (bench/README.md has the measurements)
    kafka_linger_ms: int = Field(default=1, ge=0, le=1000)
    #: how long the broker holds a worker's fetch when no new record is there yet (the
    #: consumer's fetch.max.wait.ms; bench/README.md has the measurements)
    kafka_fetch_max_wait_ms: int = Field(default=500, ge=0, le=10_000)
    #: how long a silent worker keeps its partitions before the group gives them to others
    kafka_session_timeout_ms: int = Field(default=10_000, ge=6000, le=300_000)
    #: whose time a record carries, as the worker trusts it: `broker` (default: the input
    #: topics are LogAppendTime, the broker stamps each record; a record the sender stamped
    #: is refused) or `producer` (an explicit opt-in where the broker cannot stamp, e.g. the
    #: embedded one: the worker's own clock bounds record times and judges command age)
    record_time: Literal["broker", "producer"] = "broker"
    #: record_time=producer: how far ahead of the worker's clock a record's time may be
    record_time_skew_s: float = Field(default=300.0, ge=0, le=86_400)
    #: per environment, over the catalog's files: every topic's replication factor and its
    #: `min.insync.replicas` (None: as the files say; the catalog's topics are replication 1
    #: for one-broker development). `topics apply` creates with them, the worker verifies them
    topic_replication: int | None = Field(default=None, ge=1, le=32)
    topic_min_insync_replicas: int | None = Field(default=None, ge=1, le=32)

    # -- Kafka transport and authentication (every client: orchestrator/kafka/clients.py) ----
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_sasl_password_file: Path | None = None
    #: OAUTHBEARER: the token is read from this file, or printed by this command, when needed
    kafka_oauth_token_file: Path | None = None
    kafka_oauth_token_command: str | None = None
    #: TLS: the CA bundle to trust (default: the system's), and a client certificate for mTLS
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_key_password_file: Path | None = None
    kafka_ssl_check_hostname: bool = True

    #: Where a worker's idle-source watermarks get their signing key (see README, Security).
    worker_key_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = init_settings.init_kwargs.pop("config_file", None)  # type: ignore[attr-defined]
        return (init_settings, env_settings, TomlFile(settings_cls, config_file_path(path)))

    @field_validator("broker")
    @classmethod
    def _broker(cls, v: str) -> str:
        if v == EMBEDDED:
            return v
        for address in v.split(","):
            m = _ADDRESS.match(address.strip())
            if not m or not 0 < int(m.group("port")) < 65536:
                raise ValueError(
                    f"{address.strip()!r} is not HOST:PORT (e.g. 127.0.0.1:9092, [::1]:9092; "
                    "several separated by commas) or 'embedded'"
                )
        return v

    def catalog(self) -> Catalog:
        """The topic catalog of `topics_dir` as this environment deploys it (replication and
        `min.insync.replicas` over the files' when set): what `topics apply` creates and the
        worker verifies."""
        from orchestrator.catalog.topics import Catalog

        return Catalog.load(self.topics_dir).for_environment(
            self.topic_replication, self.topic_min_insync_replicas
        )

    @model_validator(mode="after")
    def _topic_replicas(self) -> Settings:
        r, m = self.topic_replication, self.topic_min_insync_replicas
        if r is not None and m is not None and m > r:
            raise ValueError(
                f"topic_min_insync_replicas: {m} is more than topic_replication {r} "
                "(no write could ever be acknowledged)"
            )
        return self

    @model_validator(mode="after")
    def _kafka_security(self) -> Settings:
        sasl = self.kafka_security_protocol.startswith("SASL_")
        mech = self.kafka_sasl_mechanism
        if sasl and mech is None:
            raise ValueError(
                f"kafka_sasl_mechanism: {self.kafka_security_protocol} needs one of PLAIN, "
                "SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER"
            )
        if not sasl and mech is not None:
            raise ValueError(
                f"kafka_sasl_mechanism: set, but kafka_security_protocol is "
                f"{self.kafka_security_protocol} (use SASL_SSL or SASL_PLAINTEXT)"
            )
        if mech in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
            if not self.kafka_sasl_username:
                raise ValueError(f"kafka_sasl_username: {mech} needs a user name")
            if (self.kafka_sasl_password is None) == (self.kafka_sasl_password_file is None):
                raise ValueError(
                    f"kafka_sasl_password: {mech} needs exactly one of kafka_sasl_password "
                    "or kafka_sasl_password_file"
                )
        if mech == "OAUTHBEARER" and (self.kafka_oauth_token_file is None) == (
            self.kafka_oauth_token_command is None
        ):
            raise ValueError(
                "kafka_oauth_token_file: OAUTHBEARER needs exactly one of "
                "kafka_oauth_token_file or kafka_oauth_token_command"
            )
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError(
                "kafka_ssl_certfile: a client certificate needs its key (kafka_ssl_keyfile)"
            )
        if self.kafka_ssl_certfile and not self.kafka_security_protocol.endswith("SSL"):
            raise ValueError(
                "kafka_ssl_certfile: set, but kafka_security_protocol uses no TLS "
                f"({self.kafka_security_protocol})"
            )
        return self

    @property
    def is_embedded(self) -> bool:
        return self.broker == EMBEDDED
