"""One root exception, split by fault, and the stable error codes of the contract (SPEC §2, §4).

Bad input (a contract violation) carries a code and goes to the dlq or, at the CLI, to the user.
Our own bugs are `InvariantViolation`: they crash loudly instead of being routed anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

# -- stream input codes (SPEC §2, §3) -------------------------------------------------------
E_DECODE = "E_DECODE"
E_UNKNOWN_TYPE = "E_UNKNOWN_TYPE"
E_SCHEMA = "E_SCHEMA"
E_TOO_LARGE = "E_TOO_LARGE"
E_KEY_MISMATCH = "E_KEY_MISMATCH"
E_DUPLICATE_CONFLICT = "E_DUPLICATE_CONFLICT"
E_TOO_LATE = "E_TOO_LATE"
E_UNKNOWN_DATASET = "E_UNKNOWN_DATASET"
E_UNKNOWN_MODEL = "E_UNKNOWN_MODEL"
#: an event time further ahead of the record's broker timestamp than max_future_skew
E_FUTURE_EVENT = "E_FUTURE_EVENT"
#: a dataset already holds max_open_windows windows; the event would open another
E_WINDOW_LIMIT = "E_WINDOW_LIMIT"
#: a model already holds max_versions versions, none of which may be forgotten
E_STATE_LIMIT = "E_STATE_LIMIT"
#: a window's record total would leave signed 64-bit
E_OVERFLOW = "E_OVERFLOW"
#: an event claims the source `orchestrator` without the worker's signature
E_RESERVED_SOURCE = "E_RESERVED_SOURCE"
#: handling the record raised: our bug, confined to that record (the partition moves on)
E_INTERNAL = "E_INTERNAL"
#: a window already holds max_window_arrivals arrivals, or its manifest and decision would
#: outgrow the largest record their topics take (also the data gate's check of such a window)
E_WINDOW_FULL = "E_WINDOW_FULL"
#: a dataset already has max_sources sources; the event names another
E_SOURCE_LIMIT = "E_SOURCE_LIMIT"
#: the record's time is set by its sender where the worker reads broker time (LogAppendTime),
#: or (record_time=producer) missing or ahead of the worker's clock by more than allowed
E_UNTRUSTED_TIME = "E_UNTRUSTED_TIME"
#: an output of the record would be larger than its topic takes: refused, never retried
E_OUTPUT_TOO_LARGE = "E_OUTPUT_TOO_LARGE"
#: a data profile with more columns, bins or quantiles than the contract bounds
E_PROFILE_LIMIT = "E_PROFILE_LIMIT"
#: a data profile whose bins or quantiles are not the ones its dataset policy declares
E_PROFILE_MISMATCH = "E_PROFILE_MISMATCH"

# -- gate check codes (SPEC §4) --------------------------------------------------------------
OK = "OK"
E_MISSING_SOURCE = "E_MISSING_SOURCE"
E_RECORD_COUNT = "E_RECORD_COUNT"
E_SCHEMA_MISMATCH = "E_SCHEMA_MISMATCH"
E_VOLUME_DRIFT = "E_VOLUME_DRIFT"
E_METRIC_MISSING = "E_METRIC_MISSING"
E_METRIC_THRESHOLD = "E_METRIC_THRESHOLD"
E_REGRESSION = "E_REGRESSION"
E_LINEAGE_REJECTED = "E_LINEAGE_REJECTED"
E_LINEAGE_PENDING = "E_LINEAGE_PENDING"
E_UNAUTHORIZED = "E_UNAUTHORIZED"
E_BAD_SIGNATURE = "E_BAD_SIGNATURE"
E_NO_ROLLBACK_TARGET = "E_NO_ROLLBACK_TARGET"
E_UNKNOWN_SUBJECT = "E_UNKNOWN_SUBJECT"
#: a command issued longer before (or after) its broker time than max_command_age
E_COMMAND_EXPIRED = "E_COMMAND_EXPIRED"
#: a command whose nonce was seen before (a replay)
E_COMMAND_REPLAYED = "E_COMMAND_REPLAYED"
#: staged rollout: a live interval of the champion or challenger worse than its guard allows
E_LIVE_DEGRADED = "E_LIVE_DEGRADED"
#: staged rollout: a newer version passed the gate and took the challenger's place
E_CHALLENGER_REPLACED = "E_CHALLENGER_REPLACED"
#: a drift check (population stability index, KS D, mean shift) beyond its bound
E_DRIFT = "E_DRIFT"
#: the primary metric of the last promoted versions gained less than the policy's bound
E_PLATEAU = "E_PLATEAU"

INPUT_CODES = frozenset(
    {
        E_DECODE,
        E_UNKNOWN_TYPE,
        E_SCHEMA,
        E_TOO_LARGE,
        E_KEY_MISMATCH,
        E_DUPLICATE_CONFLICT,
        E_PROFILE_LIMIT,
    }
)
#: Codes a dlq record can carry besides the input codes.
DLQ_CODES = INPUT_CODES | {
    E_UNKNOWN_DATASET,
    E_UNKNOWN_MODEL,
    E_FUTURE_EVENT,
    E_WINDOW_LIMIT,
    E_STATE_LIMIT,
    E_OVERFLOW,
    E_INTERNAL,
    E_RESERVED_SOURCE,
    E_WINDOW_FULL,
    E_SOURCE_LIMIT,
    E_UNTRUSTED_TIME,
    E_OUTPUT_TOO_LARGE,
    E_COMMAND_EXPIRED,
    E_PROFILE_MISMATCH,
}


class OrchestratorError(Exception):
    """Root of every error this package raises on purpose."""


class ContractError(OrchestratorError):
    """Input that violates the event contract; `code` is one of the stable input codes."""

    def __init__(self, code: str, message: str, event_id: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.event_id = event_id


class ConfigProblem(NamedTuple):
    """One problem of a configuration file: which file, which field, and why."""

    file: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"


class ConfigError(OrchestratorError):
    """An invalid configuration: every problem found, each naming the file, the field and the
    reason (one per line in `str()`); `file`, `field` and `reason` are the first one's."""

    def __init__(self, file: str, field: str, reason: str, *more: ConfigProblem) -> None:
        self.problems = (ConfigProblem(file, field, reason), *more)
        super().__init__("\n".join(str(p) for p in self.problems))
        self.file = file
        self.field = field
        self.reason = reason

    @classmethod
    def of(cls, problems: Iterable[ConfigProblem]) -> ConfigError:
        """One error for several problems (at least one)."""
        first, *rest = problems
        return cls(*first, *rest)


class TopicMismatch(OrchestratorError):
    """An existing topic differs from the catalog in a setting we cannot change safely."""


class BrokerError(OrchestratorError):
    """The broker could not be started or reached."""


class UnknownSubject(OrchestratorError):
    """An audit query about a subject (window, version, command, model) nothing was decided on."""


class AuditRefused(OrchestratorError):
    """The audit trail cannot give a right answer (an order the log does not determine, an
    index that no longer matches its topics): refused, never answered wrongly."""


class DemoError(OrchestratorError):
    """The demo could not run to the end (a process died, the worker never became ready)."""


class InvariantViolation(OrchestratorError):
    """Our bug: a state the code promises never to reach. Never routed to the dlq."""
