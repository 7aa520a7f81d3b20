"""Why a Kafka client could not connect, in one line.

aiokafka raises a bare "Unable to bootstrap from [...]" and logs the cause (a refused
connection, a failed TLS handshake, bad SASL credentials) on its own logger. The CLI keeps the
last such cause here and names it in its one-line error instead of a traceback."""

from __future__ import annotations

import logging
import ssl

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
    logger = logging.getLogger("aiokafka")
    logger.handlers = [CAUSES]
    logger.propagate = False
    logger.setLevel(logging.ERROR)


def explain(exc: BaseException) -> str:
    """One line for a failure to reach or use the broker."""
    cause = CAUSES.last
    if isinstance(exc, ssl.SSLCertVerificationError) or (cause and "CERTIFICATE_VERIFY" in cause):
        return "TLS: the broker's certificate is not trusted (set kafka_ssl_cafile to its CA)" + (
            f" ({cause})" if cause else ""
        )
    if cause and "SaslAuthenticationFailed" in cause:
        return "authentication failed: " + cause.split("SaslAuthenticationFailed: ", 1)[-1]
    if isinstance(exc, KafkaConnectionError):
        return f"cannot connect ({cause or exc})"
    if isinstance(exc, KafkaError):
        return f"{type(exc).__name__}: {exc}".rstrip(": ")
    return str(exc)
