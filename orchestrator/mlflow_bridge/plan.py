"""What the MLflow bridge does, as data: no MLflow, no network, no clock.

MLflow → orchestrator: a READY registered model version whose run carries metrics and the
`orchestrator.trained_on` tag becomes a `model.update` whose `version` is the MLflow version
number (as a string) and whose `event_id` is `mlflow/<model>/<version>`, so that publishing it
again after a crash is a duplicate the worker ignores. Orchestrator → MLflow: the latest
`models.champions` record of a model says where the `champion` and `challenger` aliases go.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

import orjson
from pydantic import ValidationError

from orchestrator.contracts.codec import MAX_PAYLOAD_BYTES, encode
from orchestrator.contracts.events import ModelUpdate
from orchestrator.contracts.records import ChampionRecord
from orchestrator.core.timeutil import from_ms

#: run tag: the window ids the run trained on, a JSON list or comma-separated (required)
TAG_TRAINED_ON = "orchestrator.trained_on"
#: run tag: the artifact's digest as its producer states it (optional; else computed, see
#: `tree_digest`, from the downloaded artifact)
TAG_DIGEST = "orchestrator.artifact_digest"
#: run tag: the code version (optional; else MLflow's own `mlflow.source.git.commit`)
TAG_CODE_VERSION = "orchestrator.code_version"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
#: model version tag set by the bridge once the broker acknowledged its model.update
TAG_PUBLISHED = "orchestrator.published"
#: model version tag set by the bridge: why the version was not published (yet)
TAG_SKIPPED = "orchestrator.skipped"
#: model version tag set by a person: the bridge leaves the version alone (any value)
TAG_IGNORE = "orchestrator.ignore"
#: registered model tag set by the bridge: the decision whose champions record the aliases mirror
TAG_DECISION = "orchestrator.decision_id"
#: params key naming the MLflow run of a bridged model.update
RUN_ID_PARAM = "mlflow.run_id"

CHAMPION, CHALLENGER = "champion", "challenger"
READY = "READY"
#: run statuses (MLflow's RunStatus): still logging, so its metrics are not final yet
RUN_OPEN = frozenset({"RUNNING", "SCHEDULED"})
#: run statuses: ended without finishing, so its model is not published
RUN_FAILED = frozenset({"FAILED", "KILLED"})


def event_id_for(model: str, version: str) -> str:
    """The model.update's idempotency key: the same version, the same key, every time."""
    return f"mlflow/{model}/{version}"


@dataclass(frozen=True)
class VersionFacts:
    """What the bridge reads from MLflow about one registered model version and its run."""

    model: str
    version: str
    status: str
    source: str
    created_ms: int
    version_tags: Mapping[str, str]
    run_id: str | None
    #: the run's metrics (latest value of each); None: the run could not be found
    run_metrics: Mapping[str, float] | None = None
    run_params: Mapping[str, str] = field(default_factory=dict)
    run_tags: Mapping[str, str] = field(default_factory=dict)
    #: the run's status (RUNNING, SCHEDULED, FINISHED, FAILED, KILLED); None: no run found
    run_status: str | None = None


@dataclass(frozen=True)
class Skip:
    """A version the bridge does not publish, and why (one line)."""

    model: str
    version: str
    reason: str

    def __str__(self) -> str:
        return f"{self.model} version {self.version}: {self.reason}"


def parse_trained_on(text: str) -> list[str]:
    """Window ids from the run tag: a JSON list of strings, or comma-separated ids."""
    text = text.strip()
    if text.startswith(("[", "{")):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not a JSON list: {exc}") from None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("a JSON list of window ids (strings) is expected")
        ids = [v.strip() for v in value]
    else:
        ids = [v.strip() for v in text.split(",")] if text else []
    if any(not v for v in ids):
        raise ValueError("an empty window id")
    return ids


def waiting(facts: VersionFacts) -> str | None:
    """Why the version is not published yet (None: it is not waiting): its run is still open,
    so its metrics and tags may still change (MLflow's `log_model(...,
    registered_model_name=...)` registers the version, READY at once, inside the run)."""
    if facts.run_metrics is not None and facts.run_status in RUN_OPEN:
        return f"run {facts.run_id} is {facts.run_status}: published once it ends"
    return None


def problem(facts: VersionFacts) -> str | None:
    """Why the version cannot become a model.update (None: it can), before any download."""
    if facts.run_id is None:
        return "the version names no run (its metrics and trained_on come from the run)"
    if facts.run_metrics is None:
        return f"run {facts.run_id} not found"
    if facts.run_status in RUN_FAILED:
        return (
            f"run {facts.run_id} is {facts.run_status}: the model of a run that did not finish "
            f"is not published"
        )
    if not facts.run_metrics:
        return f"run {facts.run_id} has no metrics"
    bad = sorted(k for k, v in facts.run_metrics.items() if not math.isfinite(v))
    if bad:
        return f"run {facts.run_id}: metric {bad[0]} is not a finite number"
    if TAG_TRAINED_ON not in facts.run_tags:
        return f"run {facts.run_id} has no tag {TAG_TRAINED_ON} (the window ids it trained on)"
    try:
        parse_trained_on(facts.run_tags[TAG_TRAINED_ON])
    except ValueError as exc:
        return f"run {facts.run_id}: tag {TAG_TRAINED_ON}: {exc}"
    return None


def is_models_uri(source: str) -> bool:
    """Whether a version's source is a `models:/` URI (MLflow 3's `log_model` registers
    `models:/m-<id>`, a logged model): its files are where the registry resolves it, not at
    the URI itself."""
    return source.strip().lower().startswith("models:")


def stated_digest(facts: VersionFacts) -> str | None:
    """The digest the run states for its artifact (None: the bridge computes one)."""
    value = facts.run_tags.get(TAG_DIGEST, "").strip()
    return value or None


def to_update(facts: VersionFacts, digest: str) -> ModelUpdate | Skip:
    """The model.update for a version `problem` found nothing wrong with; a Skip when the
    contract still refuses it (a name too long, a payload over 1 MiB)."""
    assert facts.run_id is not None
    assert facts.run_metrics is not None
    code_version = facts.run_tags.get(TAG_CODE_VERSION) or facts.run_tags.get(GIT_COMMIT_TAG)
    try:
        update = ModelUpdate(
            event_id=event_id_for(facts.model, facts.version),
            model=facts.model,
            version=facts.version,
            artifact_uri=facts.source,
            artifact_digest=digest,
            metrics={k: float(v) for k, v in sorted(facts.run_metrics.items())},
            trained_on=parse_trained_on(facts.run_tags[TAG_TRAINED_ON]),
            params={**dict(sorted(facts.run_params.items())), RUN_ID_PARAM: facts.run_id},
            code_version=code_version or None,
            event_time=from_ms(facts.created_ms),
        )
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        return Skip(
            facts.model, facts.version, f"not a valid model.update: {where}: {first['msg']}"
        )
    size = len(encode(update))
    if size > MAX_PAYLOAD_BYTES:
        return Skip(
            facts.model,
            facts.version,
            f"its model.update would be {size} bytes; the limit is {MAX_PAYLOAD_BYTES}",
        )
    return update


def tree_digest(files: Iterable[tuple[str, str]]) -> str:
    """The digest of an artifact from (relative path, sha256 hex of its bytes) per file: the
    sha256 of the lines `path NUL hex LF` in path order. A single-file artifact is the tree of
    that one file under its name."""
    h = hashlib.sha256()
    for path, hexdigest in sorted(files):
        h.update(f"{path}\0{hexdigest}\n".encode())
    return "sha256:" + h.hexdigest()


@dataclass(frozen=True)
class AliasMove:
    """Point `alias` of `model` at MLflow version `to` (None: remove it); `was` where it was."""

    model: str
    alias: str
    to: str | None
    was: str | None

    def __str__(self) -> str:
        to = self.to if self.to is not None else "(removed)"
        was = self.was if self.was is not None else "(none)"
        return f"{self.model}@{self.alias}: {was} -> {to}"


@dataclass(frozen=True)
class AliasPlan:
    moves: list[AliasMove]
    #: what the aliases could not follow, one line each
    notes: list[str]


def plan_aliases(
    record: ChampionRecord, current: Mapping[str, str], versions: AbstractSet[str]
) -> AliasPlan:
    """The alias moves that make `current` (alias -> MLflow version) mirror the record:
    `champion` on the champion, `challenger` on the challenger, each removed when the record
    names none, or names a version that is not an MLflow version of the model (`versions`):
    an alias never stays on a version the orchestrator no longer backs. The champion moves
    first, so that what serves by alias follows the gate as soon as possible."""
    moves: list[AliasMove] = []
    notes: list[str] = []
    for alias, wanted in ((CHAMPION, record.version), (CHALLENGER, record.challenger)):
        target = wanted
        if wanted is not None and wanted not in versions:
            notes.append(
                f"{record.model}: the {alias} {wanted!r} is not a version of the registered "
                f"model in MLflow: alias {alias} removed"
            )
            target = None
        was = current.get(alias)
        if was != target:
            moves.append(AliasMove(record.model, alias, target, was))
    return AliasPlan(moves, notes)


def latest_champions(
    records: Iterable[tuple[bytes | None, bytes | None]],
) -> dict[str, ChampionRecord]:
    """The latest champions record per model from (key, value) records in log order
    (a tombstone forgets the model; a record that does not decode is left out)."""
    out: dict[str, ChampionRecord] = {}
    for key, value in records:
        if value is None:
            if key is not None:
                out.pop(key.decode("utf-8", "replace"), None)
            continue
        try:
            obj = orjson.loads(value)
            # "no champion" is written with its None version left out (see codec.encode)
            record = ChampionRecord.model_validate({"version": None, **obj})
        except (orjson.JSONDecodeError, ValidationError, TypeError):
            continue
        out[record.model] = record
    return out
