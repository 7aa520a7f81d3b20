"""Resolving `--broker` into a live `Connection` (starting the embedded broker on demand)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.abc import AbstractTokenProvider

from orchestrator.errors import BrokerError, ConfigError
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.embedded import EmbeddedBroker, registered_broker, registered_kind
from orchestrator.secrets import check_secret_file, read_secret_file
from orchestrator.settings import Settings


@dataclass(frozen=True)
class BrokerInfo:
    conn: Connection
    embedded: bool
    #: the embedded broker this process started (None: someone else's, or not embedded)
    owner: EmbeddedBroker | None = None

    @property
    def bootstrap(self) -> str:
        return self.conn.bootstrap


def connection(settings: Settings, bootstrap: str) -> Connection:
    """The connection every client of this process uses: transport and authentication from
    settings. Secrets are read here, from files or the environment, and go nowhere else."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {
        "security_protocol": protocol,
        "request_timeout_ms": settings.kafka_request_timeout_ms,
    }
    what: list[str] = [protocol]
    if protocol.endswith("SSL"):
        ctx = ssl.create_default_context(
            cafile=_path(settings.kafka_ssl_cafile, "kafka_ssl_cafile")
        )
        ctx.check_hostname = settings.kafka_ssl_check_hostname
        if settings.kafka_ssl_certfile is not None:
            password = (
                _secret_file(settings.kafka_ssl_key_password_file, "kafka_ssl_key_password_file")
                if settings.kafka_ssl_key_password_file
                else None
            )
            keyfile = _path(settings.kafka_ssl_keyfile, "kafka_ssl_keyfile")
            if (
                settings.kafka_ssl_keyfile is not None
            ):  # a private key: refused if others may read it
                check_secret_file(settings.kafka_ssl_keyfile, "kafka_ssl_keyfile")
            try:
                ctx.load_cert_chain(
                    _path(settings.kafka_ssl_certfile, "kafka_ssl_certfile") or "",
                    keyfile,
                    password,
                )
            except ssl.SSLError as exc:
                raise ConfigError(
                    str(settings.kafka_ssl_certfile), "kafka_ssl_certfile", exc.reason or str(exc)
                ) from None
            what.append(f"client certificate {settings.kafka_ssl_certfile.name}")
        options["ssl_context"] = ctx
    mech = settings.kafka_sasl_mechanism
    if mech is not None:
        options["sasl_mechanism"] = mech
        what.append(mech)
        if mech == "OAUTHBEARER":
            if settings.kafka_oauth_token_file is not None:  # said at start, not at first use
                check_secret_file(settings.kafka_oauth_token_file, "kafka_oauth_token_file")
            options["sasl_oauth_token_provider"] = TokenProvider(
                settings.kafka_oauth_token_file, settings.kafka_oauth_token_command
            )
        else:
            options["sasl_plain_username"] = settings.kafka_sasl_username
            options["sasl_plain_password"] = (
                settings.kafka_sasl_password.get_secret_value()
                if settings.kafka_sasl_password is not None
                else _secret_file(settings.kafka_sasl_password_file, "kafka_sasl_password_file")
            )
            what.append(f"as {settings.kafka_sasl_username}")
    return Connection(bootstrap, options, " ".join(what))


def _path(path: Path | None, setting: str) -> str | None:
    if path is None:
        return None
    if not path.is_file():
        raise ConfigError(str(path), setting, "no such file")
    return str(path)


def _secret_file(path: Path | None, setting: str) -> str:
    assert path is not None
    return read_secret_file(path, setting).decode()


class TokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    """An OAUTHBEARER token from a file (re-read each time: a sidecar may refresh it) or from
    the output of a command (run again when the token it gave is older than a minute)."""

    def __init__(self, file: Path | None, command: str | None) -> None:
        self.file = file
        self.command = command
        self._cached: tuple[float, str] | None = None

    async def token(self) -> str:
        if self.file is not None:  # checked each time it is read: it may be replaced
            return read_secret_file(self.file, "kafka_oauth_token_file").decode()
        assert self.command is not None
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > 60:
            proc = await asyncio.create_subprocess_shell(
                self.command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
            )
            out, _ = await proc.communicate()
            if proc.returncode != 0:
                raise BrokerError(f"kafka_oauth_token_command exited with {proc.returncode}")
            self._cached = (now, out.decode().strip())
        return self._cached[1]


NO_BROKER = "no broker running: start `orchestrator dev` or pass --broker HOST:PORT"


@contextlib.contextmanager
def broker_session(settings: Settings, *, start_embedded: bool = False) -> Iterator[BrokerInfo]:
    """Yield where to connect. With the default broker (`embedded`) that is the embedded broker
    `orchestrator dev` (or `demo --keep`) keeps running; only `start_embedded` verbs (demo,
    dev) start one of their own, for as long as the block lasts. A one-shot verb never starts
    a throwaway broker: it fails with NO_BROKER instead (exit 2)."""
    if not settings.is_embedded:
        yield BrokerInfo(connection(settings, settings.broker), embedded=False)
        return
    run_dir = settings.state_dir.parent
    existing = registered_broker(run_dir)
    if existing:  # dev's Apache Kafka, or an embedded broker
        yield BrokerInfo(Connection(existing), embedded=registered_kind(run_dir) != "kafka")
        return
    if not start_embedded:
        raise BrokerError(NO_BROKER)
    broker = EmbeddedBroker(run_dir)
    broker.start()
    try:
        yield BrokerInfo(Connection(broker.bootstrap), embedded=True, owner=broker)
    finally:
        if not broker.kept:
            broker.stop()
