"""Frozen specs the core runs on, built from the declarative files in `gates/`."""

from __future__ import annotations

from dataclasses import dataclass

#: The source name of watermarks the orchestrator appends for idle datasets (SPEC §3).
ORCHESTRATOR_SOURCE = "orchestrator"
#: Defaults of the dataset bounds (SPEC §3, §8): an hour of clock skew between a producer and
#: the broker, and a thousand windows held while a watermark stalls.
DEFAULT_MAX_FUTURE_SKEW_MS = 3_600_000
DEFAULT_MAX_OPEN_WINDOWS = 1000
#: sources a dataset may have (watermarks kept per source), and arrivals a window may hold
DEFAULT_MAX_SOURCES = 100
DEFAULT_MAX_WINDOW_ARRIVALS = 10_000
#: Apache Kafka's default largest record batch (1 MiB plus framing)
KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588
#: room a window's manifest and decision need besides their arrivals: the fixed fields, the
#: sources (max_sources names of up to 200 characters, twice) and the checks
WINDOW_HEADROOM_BYTES = 128 * 1024


def window_bytes_for(message_limit: int) -> int:
    """What a window's arrivals may weigh (`openwindow.arrival_weight`) so that its manifest and
    its decision fit records of at most `message_limit` bytes."""
    return max(1, message_limit - WINDOW_HEADROOM_BYTES)


@dataclass(frozen=True, slots=True)
class ProfileColumn:
    """A column of the dataset's data profile: its bin edges, its quantile probabilities, or
    both (README "Drift")."""

    name: str
    edges: tuple[float, ...] | None = None
    probs: tuple[float, ...] | None = None


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
    #: sources whose watermarks a dataset keeps at most (E_SOURCE_LIMIT beyond)
    max_sources: int = DEFAULT_MAX_SOURCES
    #: arrivals a window holds at most, and what they may weigh (E_WINDOW_FULL beyond)
    max_window_arrivals: int = DEFAULT_MAX_WINDOW_ARRIVALS
    max_window_bytes: int = window_bytes_for(KAFKA_DEFAULT_MAX_MESSAGE_BYTES)
    #: the profile columns kept from arrivals and merged into each manifest (none: no profile)
    profile: tuple[ProfileColumn, ...] = ()
    version: int = 1
    digest: str = ""

    def __post_init__(self) -> None:
        if self.window_ms <= 0 or self.window_ms % 1000:
            raise ValueError("window must be a positive whole number of seconds")
        if self.out_of_orderness_ms < 0 or self.allowed_lateness_ms < 0:
            raise ValueError("out_of_orderness and allowed_lateness must not be negative")
        if min(self.max_open_windows, self.max_sources, self.max_window_arrivals) < 1:
            raise ValueError("max_open_windows, max_sources and max_window_arrivals must be >= 1")
