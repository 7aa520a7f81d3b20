"""Records the orchestrator writes: window manifests, late and dlq envelopes, audit decisions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from orchestrator.contracts.events import ColumnProfile, DataArrival, EventId, Name

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ArrivalRef(BaseModel):
    """One accepted arrival inside a window manifest: enough for lineage down to the bytes."""

    model_config = _FROZEN
    event_id: EventId
    source: Name
    uri: str
    checksum: str
    record_count: int
    schema_fingerprint: str | None = None
    digest: str
    partition: int
    offset: int
    #: the columns of its data profile the dataset policy declares (README "Drift")
    profile: dict[str, ColumnProfile] | None = None


class WindowManifest(BaseModel):
    """A fired window revision on `data.windows` (key: dataset)."""

    model_config = _FROZEN
    type: Literal["data.window"] = "data.window"
    v: Literal[1] = 1
    window_id: str
    dataset: Name
    start: AwareDatetime
    end: AwareDatetime
    revision: Annotated[int, Field(ge=1)]
    supersedes_revision: int | None = None
    watermark: AwareDatetime
    arrivals: list[ArrivalRef]
    record_total: int
    sources: list[str]
    checksums: list[str]
    inputs_digest: str
    #: arrivals refused because the window was full (max_window_arrivals / max_window_bytes):
    #: the manifest is incomplete and the data gate rejects it (left out when 0)
    refused: int | None = None
    #: the merged data profile of its arrivals, per declared column (README "Drift"): plain
    #: figures, merged by core/profile.py
    profile: dict[str, dict[str, Any]] | None = None


class LateRecord(BaseModel):
    """An arrival judged too late (SPEC §3), on `data.late`."""

    model_config = _FROZEN
    type: Literal["data.late"] = "data.late"
    v: Literal[1] = 1
    code: str
    window_id: str
    watermark: AwareDatetime
    event: DataArrival
    partition: int
    offset: int


class DlqRecord(BaseModel):
    """Any invalid input (SPEC §2): code, message, original bytes and where they came from.

    It never exceeds the dlq topic's message size: an original that would is cut
    (`original_truncated`), and its full size and SHA-256 are kept so that the bytes can be
    found and checked at `topic`/`partition`/`offset`. The key likewise."""

    model_config = _FROZEN
    type: Literal["dlq.record"] = "dlq.record"
    v: Literal[1] = 1
    code: str
    message: str
    event_id: str | None = None
    original: str  # base64 of the original value bytes (its head, when truncated)
    original_truncated: bool | None = None
    original_size: int | None = None
    original_sha256: str | None = None
    key: str | None = None  # base64 of the original key bytes (its head, when truncated)
    key_truncated: bool | None = None
    topic: str
    partition: int
    offset: int
    at: AwareDatetime


class Check(BaseModel):
    """One gate check's evidence (SPEC §4)."""

    model_config = _FROZEN
    name: str
    passed: bool
    severity: Literal["error", "warn"]
    observed: Any = None
    expected: Any = None
    code: str


class Subject(BaseModel):
    model_config = _FROZEN
    kind: Literal["data_window", "model_version", "command", "training"]
    id: str


class GateRef(BaseModel):
    model_config = _FROZEN
    name: str
    version: int
    digest: str


class SourceOffset(BaseModel):
    model_config = _FROZEN
    topic: str
    partition: int
    offset: int


class Inputs(BaseModel):
    model_config = _FROZEN
    event_ids: list[str]
    digest: str
    offsets: list[SourceOffset]


Outcome = Literal["promote", "reject", "hold", "rollback", "override", "denied", "retrain"]


class AuditDecision(BaseModel):
    """The audit record of SPEC §5, on `audit.decisions` (key: subject id)."""

    model_config = _FROZEN
    type: Literal["audit.decision"] = "audit.decision"
    v: Literal[1] = 1
    decision_id: str
    subject: Subject
    revision: int
    outcome: Outcome
    gate: GateRef
    checks: list[Check]
    inputs: Inputs
    watermark: AwareDatetime | None = None
    supersedes: str | None = None
    champion_before: str | None = None
    champion_after: str | None = None
    decided_at: AwareDatetime
    orchestrator_version: str
    #: Added to SPEC §5: the log position of the event that caused this decision (replay ranges).
    trigger: SourceOffset | None = None
    #: Added to SPEC §5: the model a model-version or command decision is about (champion queries).
    model: str | None = None


class ChampionRecord(BaseModel):
    """The current champion of a model on `models.champions` (compacted, key: model)."""

    model_config = _FROZEN
    type: Literal["model.champion"] = "model.champion"
    v: Literal[1] = 1
    model: Name
    version: str | None = None  # left out on the wire when there is no champion
    decision_id: str
    since: AwareDatetime
    #: the staged rollout's challenger, serving beside the champion (left out: none)
    challenger: str | None = None


class TrainingRequested(BaseModel):
    """A model policy asks for retraining on the named promoted windows (key: model)."""

    model_config = _FROZEN
    type: Literal["training.requested"] = "training.requested"
    v: Literal[1] = 1
    request_id: str
    model: Name
    windows: list[str]
    policy: str
    policy_version: int
    #: why (README "Retraining triggers"): every, drift, live or plateau; the decision that
    #: requested it, and its evidence (left out by requests recorded before triggers had them)
    reason: Literal["every", "drift", "live", "plateau"] | None = None
    decision_id: str | None = None
    checks: list[Check] | None = None


class StateSnapshot(BaseModel):
    """One part of a snapshot of one input partition's state (`orchestrator.state-snapshots`,
    key `<input topic>:<partition>`): the state after every input record below `position`,
    as changelog entries, with a digest of all of them (every part) to verify it by. Replay
    with `--since` starts from the nearest earlier snapshot instead of offset 0."""

    model_config = _FROZEN
    type: Literal["state.snapshot"] = "state.snapshot"
    v: Literal[1] = 1
    topic: str
    partition: Annotated[int, Field(ge=0)]
    #: the next input offset: the state reflects every record below it
    position: Annotated[int, Field(ge=0)]
    #: the broker timestamp (ms) of the last input record the state reflects
    last_timestamp_ms: int
    #: digest of the canonical JSON of every entry (all parts), sorted by key
    digest: str
    entry_count: Annotated[int, Field(ge=0)]
    part: Annotated[int, Field(ge=1)]
    parts: Annotated[int, Field(ge=1)]
    entries: list[tuple[str, Any]]
    taken_at: AwareDatetime
