"""Frozen specs the core runs on, built from the declarative files in `gates/`."""

from __future__ import annotations

from dataclasses import dataclass

#: The source name of watermarks the orchestrator appends for idle datasets (SPEC §3).
ORCHESTRATOR_SOURCE = "orchestrator"
#: Defaults of the dataset bounds (SPEC §3, §8): an hour of clock skew between a producer and
#: the broker, and a thousand windows held while a watermark stalls.
DEFAULT_MAX_FUTURE_SKEW_MS = 3_600_000
DEFAULT_MAX_OPEN_WINDOWS = 1000


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """Event-time parameters of one dataset, in integer milliseconds."""

    name: str
    window_ms: int
    out_of_orderness_ms: int
    allowed_lateness_ms: int
    required_sources: frozenset[str] = frozenset()
    idle_timeout_ms: int | None = None
    expected_by_ms: int | None = None
    #: an event time further ahead of its record's broker timestamp is refused (None: no bound)
    max_future_skew_ms: int | None = DEFAULT_MAX_FUTURE_SKEW_MS
    #: windows a dataset holds at most while its watermark does not reach their end
    max_open_windows: int = DEFAULT_MAX_OPEN_WINDOWS
    version: int = 1
    digest: str = ""

    def __post_init__(self) -> None:
        if self.window_ms <= 0 or self.window_ms % 1000:
            raise ValueError("window must be a positive whole number of seconds")
        if self.out_of_orderness_ms < 0 or self.allowed_lateness_ms < 0:
            raise ValueError("out_of_orderness and allowed_lateness must not be negative")
        if self.max_open_windows < 1:
            raise ValueError("max_open_windows must be at least 1")
