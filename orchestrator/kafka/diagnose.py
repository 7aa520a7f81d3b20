"""Why a Kafka client could not connect, in one line.

aiokafka raises a bare "Unable to bootstrap from [...]" and logs the cause (a refused
connection, a failed TLS handshake, bad SASL credentials) on its own logger. The CLI keeps the
last such cause here and names it in its one-line error instead of a traceback."""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Iterator

from aiokafka.errors import KafkaConnectionError, KafkaError


class ConnectCauses(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("Unable connect to"):
            self.last = msg.split(": ", 1)[1] if ": " in msg else msg


CAUSES = ConnectCauses()


def quiet_client_logs() -> None:
    """For one-shot verbs: aiokafka's own log lines are kept for `explain`, not printed."""
    CAUSES.last = None
    logger = logging.getLogger("aiokafka")
    logger.handlers = [CAUSES]
    logger.propagate = False
    logger.setLevel(logging.ERROR)


@contextlib.contextmanager
def client_logs_quiet() -> Iterator[None]:
    """`quiet_client_logs` while the block runs (the worker's checks before it starts), then
    aiokafka's logging as it was."""
    logger = logging.getLogger("aiokafka")
    handlers, propagate, level = logger.handlers[:], logger.propagate, logger.level
    quiet_client_logs()
    try:
        yield
    finally:
        logger.handlers, logger.propagate = handlers, propagate
        logger.setLevel(level)


FIX = "check --broker (or ORCHESTRATOR_BROKER)"
_UNRESOLVED = (
    "Name or service not known",
    "nodename nor servname",
    "name resolution",
    "No address",
)


def explain(exc: BaseException) -> str:
    """One line for a failure to reach or use the broker, saying what to check."""
    cause = CAUSES.last
    if isinstance(exc, ssl.SSLCertVerificationError) or (cause and "CERTIFICATE_VERIFY" in cause):
        return "TLS: the broker's certificate is not trusted (set kafka_ssl_cafile to its CA)" + (
            f" ({cause})" if cause else ""
        )
    if cause and "SaslAuthenticationFailed" in cause:
        return "authentication failed: " + cause.split("SaslAuthenticationFailed: ", 1)[-1]
    if isinstance(exc, KafkaConnectionError):
        if cause and any(s in cause for s in _UNRESOLVED):
            return f"cannot connect: host not found ({cause}): {FIX}"
        if cause and ("Connect call failed" in cause or "refused" in cause):
            return f"cannot connect: connection refused ({cause}): is Kafka running there? {FIX}"
        return f"cannot connect ({cause or exc}): {FIX}"
    if isinstance(exc, KafkaError):
        return f"{type(exc).__name__}: {exc}".rstrip(": ")
    return str(exc)
