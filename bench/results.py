"""What a bench run measured, as the JSON it writes (`--json`) holds it.

TypedDicts rather than dataclasses: each type is the shape of a part of that JSON, so a saved
results file read back with `json.loads` is the same value the report renders, and some keys
(`L4/L3`, `replay/L6`) are not Python names. A key that is `NotRequired` is left out of the JSON
when the run has no figure for it (as the smoke test and older results files expect).
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class CoreSaw(TypedDict):
    """What a core made of the data (L5 counts its effects, L6 reads the worker's metrics)."""

    duplicates: int
    conflicts: int
    too_late: int


class Emitted(TypedDict):
    """What the load generator made of each special kind of event so far."""

    duplicates: int
    conflicts: int
    beyond_bound: int


class Census(TypedDict):
    """What the first `events` events of the bench's data are made of."""

    events: int
    duplicates: int
    conflicts: int
    beyond_bound: int


class CpuShareFigures(TypedDict):
    """Who used the machine's cores during a run, as shares of all cores' time (1.0: every core
    busy throughout). `broker` only when the bench started the broker (its pid is known)."""

    cores: float
    seconds: float
    broker: NotRequired[float]
    worker: float
    generator: float
    machine: float
    other: float


class ClientRun(TypedDict):
    """One run of an in-process level (L3..L5); `core_saw` only at L5, which runs the core."""

    events_per_s: float
    cpu_us_per_event: float
    seconds: float
    core_saw: NotRequired[CoreSaw]


class ClientLevel(ClientRun):
    """A level's median run, and every run of it."""

    runs: list[ClientRun]


class WorkerRun(TypedDict):
    """The real worker (L6) draining pre-produced input; `core_saw` where the ladder asks it;
    `processes` where it ran as `worker --processes N` (events and CPU summed over the N)."""

    events_per_s: float
    cpu_us_per_event: float
    seconds: float
    cpu_shares: CpuShareFigures
    core_saw: NotRequired[CoreSaw]
    processes: NotRequired[int]


class PeerRun(TypedDict):
    """Another stream processor over the same events (bench/peer.py)."""

    name: str
    version: str
    events_per_s: float
    cpu_us_per_event: float
    seconds: float
    #: final window counts it emitted, and events it dropped as late
    windows: int
    late_dropped: int


class ReplayRun(TypedDict):
    """Replay in this process, one forked process per CPU."""

    #: as `orchestrator replay` reports it (None: it reported no time)
    events_per_s: float | None
    #: the same, plus connecting and listing the topics
    end_to_end_events_per_s: float
    processes: int
    matched: bool
    events: int


class ReplayProcessRun(TypedDict):
    """`orchestrator replay --processes 1` in a process of its own."""

    events: int
    peak_rss_mb: float
    seconds: float
    events_per_s: float
    matched: bool


class ReplayMemory(TypedDict):
    """Replay's peak RSS at the ladder's log (`large`) and a smaller one."""

    large: ReplayProcessRun
    small: ReplayProcessRun
    growth_ratio: float


class AuditIndexRun(TypedDict):
    """`audit index` built from a log's topics, then `audit history` of one window."""

    records: int
    decisions: int
    build_seconds: float
    build_records_per_s: float
    build_peak_rss_mb: float
    history_query_ms_p50: float | None
    history_query_ms_p99: float | None
    history_cli_ms: float


class LatencyRun(TypedDict):
    """One open-loop latency run: decision latency broker to broker, in ms."""

    guarantee: str
    rate: float
    decisions: int
    p50_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    cpu_shares: CpuShareFigures
    linger_ms: int
    fetch_max_wait_ms: int


class DataCensus(TypedDict):
    """What the generator made of the events L5 read and of those L6 read."""

    L5: Census
    L6: Census


#: throughput ratios; the replay ones only when replay reported its time
Ratios = TypedDict(
    "Ratios",
    {
        "L4/L3": float,
        "L5/L3": float,
        "L6/L3": float,
        "L6_exactly_once/L3": float,
        "L6_exactly_once/L6": float,
        "L6_processes/L6": float,
        "L6/peer": float,
        "replay/L6": NotRequired[float],
        "replay_end_to_end/L6": NotRequired[float],
    },
)


class Target(TypedDict):
    """One of the issue's targets, judged from the run's figures; `why` where one is given."""

    target: str
    measured: str
    met: bool
    why: NotRequired[str]


class Figures(TypedDict):
    """Everything the ladder measured, from which the targets are judged."""

    events: int
    partitions: int
    broker: str
    L3: ClientLevel
    L4: ClientLevel
    L5: ClientLevel
    data: DataCensus
    L6: WorkerRun
    #: worker RSS by events processed (the keys are event counts)
    rss_mb: dict[str, float]
    #: at the last RSS point against the first (only with two points or more)
    rss_growth_ratio: NotRequired[float]
    changelog_bytes_per_event: float
    input_bytes_per_event: int
    replay: ReplayRun
    replay_rss: ReplayMemory
    audit_index: AuditIndexRun
    audit_index_small: AuditIndexRun
    L6_exactly_once: WorkerRun
    #: `worker --processes N`, N = the CPUs the bench may use (per-machine throughput)
    L6_processes: WorkerRun
    #: another stream processor over the same events as L3..L5 (Quix Streams)
    peer: PeerRun
    #: by run name: "50%", "80%" (at_least_once), "50% eos" (exactly_once)
    latency: dict[str, LatencyRun]
    ratios: Ratios
    max_rss_self_mb: float


class Results(Figures):
    """What `python -m bench` writes: the figures, the targets judged from them, the core build."""

    targets: list[Target]
    #: "mypyc" or "pure" (scripts/build_core.py; ORCH_PURE_CORE=1: pure)
    core_build: str
