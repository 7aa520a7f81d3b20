"""`orchestrator mlflow sync`: one pass of the bridge, both ways (the shell around `plan`).

1. MLflow → orchestrator: every READY version of each bridged registered model that does not
   carry the `orchestrator.published` (or `orchestrator.ignore`) tag and whose run has ended
   (FINISHED) becomes a `model.update` on `models.updates`; once the broker acknowledged it,
   the version is tagged with its event id. A version whose run is still open is pending: its
   metrics may still change, and the event id is fixed per version. A crash in between
   publishes it again on the next pass with the same event id and content: a duplicate the
   worker ignores, so it is decided once.
2. orchestrator → MLflow: the latest `models.champions` record of each bridged model moves the
   `champion` and `challenger` aliases (MLflow keeps an alias on one version at most).

Both ways are reconciliations: running a pass again changes nothing, and a pass cut short is
finished by the next one.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.events import ModelUpdate
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.read import read_topic
from orchestrator.mlflow_bridge.plan import (
    READY,
    TAG_DECISION,
    TAG_IGNORE,
    TAG_PUBLISHED,
    TAG_SKIPPED,
    AliasMove,
    Skip,
    VersionFacts,
    is_models_uri,
    latest_champions,
    plan_aliases,
    problem,
    stated_digest,
    to_update,
    tree_digest,
    waiting,
)
from orchestrator.produce import send_events
from orchestrator.settings import Settings

log = structlog.get_logger("orchestrator.mlflow")


@dataclass
class PassReport:
    """What one pass did and did not do."""

    published: list[ModelUpdate] = field(default_factory=list)
    #: versions published by an earlier pass
    already: int = 0
    #: versions not READY yet (MLflow is still registering them), or whose run is still open
    #: (RUNNING, SCHEDULED): the next pass looks again
    pending: list[str] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    #: versions tagged orchestrator.ignore: left alone
    ignored: int = 0
    moves: list[AliasMove] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"mlflow sync: published {len(self.published)}, already published {self.already}, "
            f"skipped {len(self.skipped)}, pending {len(self.pending)}, ignored {self.ignored}; "
            f"aliases moved {len(self.moves)}"
        )


def is_missing(exc: Exception) -> bool:
    """Whether an MLflow error says the thing asked for does not exist."""
    return getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def path_digest(path: Path) -> str:
    """`tree_digest` of a local artifact: a directory's files, or one file under its name."""
    if path.is_file():
        return tree_digest([(path.name, file_digest(path))])
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return tree_digest([(p.relative_to(path).as_posix(), file_digest(p)) for p in files])


def download_digest(tracking_uri: str) -> Callable[[str], str]:
    """The digest of an artifact by its URI, downloaded through MLflow into a scratch dir."""

    def digest(uri: str) -> str:
        from mlflow.artifacts import download_artifacts

        with tempfile.TemporaryDirectory(prefix="orchestrator-mlflow-") as tmp:
            local = download_artifacts(artifact_uri=uri, dst_path=tmp, tracking_uri=tracking_uri)
            return path_digest(Path(local))

    return digest


class Bridge:
    """One MLflow registry, one Kafka cluster, the registered models to bridge (each needs a
    model policy: the worker refuses updates of unknown models)."""

    def __init__(
        self,
        client: Any,
        settings: Settings,
        conn: Connection,
        catalog: Catalog,
        models: Sequence[str],
        digest: Callable[[str], str],
    ) -> None:
        self.client = client
        self.settings = settings
        self.conn = conn
        self.catalog = catalog
        self.models = list(models)
        self.digest = digest

    # -- MLflow → orchestrator -----------------------------------------------------------------
    def versions(self, model: str) -> list[Any]:
        """Every version of a registered model, oldest first (all pages)."""
        out: list[Any] = []
        token = None
        while True:
            page = self.client.search_model_versions(
                f"name='{model}'", max_results=200, page_token=token
            )
            out.extend(page)
            token = getattr(page, "token", None)
            if not token:
                break
        return sorted(out, key=lambda v: int(v.version))

    def facts(self, mv: Any) -> VersionFacts:
        run = None
        if mv.run_id:
            try:
                run = self.client.get_run(mv.run_id)
            except Exception as exc:
                if not is_missing(exc):
                    raise
        return VersionFacts(
            model=mv.name,
            version=str(mv.version),
            status=str(mv.status),
            source=mv.source,
            created_ms=int(mv.creation_timestamp),
            version_tags=dict(mv.tags or {}),
            run_id=mv.run_id or None,
            run_metrics=dict(run.data.metrics) if run is not None else None,
            run_params=dict(run.data.params) if run is not None else {},
            run_tags=dict(run.data.tags) if run is not None else {},
            run_status=str(run.info.status) if run is not None else None,
        )

    def location(self, facts: VersionFacts) -> str:
        """Where the version's files are: its source, or for a `models:/` source (MLflow 3's
        `models:/m-<id>`) the storage location the registry resolved it to. Downloading the
        `models:/` URI itself would resolve it against the process's default registry rather
        than this client's, and add a `registered_model_meta` file of MLflow's own."""
        if is_models_uri(facts.source):
            return str(self.client.get_model_version_download_uri(facts.model, facts.version))
        return facts.source

    def candidate(self, mv: Any, report: PassReport) -> ModelUpdate | None:
        """The model.update for a version still to publish (None: nothing to do, or skipped)."""
        tags = mv.tags or {}
        if TAG_PUBLISHED in tags:
            report.already += 1
            return None
        if TAG_IGNORE in tags:
            report.ignored += 1
            return None
        if str(mv.status) != READY:
            report.pending.append(f"{mv.name} version {mv.version}: {mv.status}")
            return None
        facts = self.facts(mv)
        wait = waiting(facts)
        if wait is not None:  # not tagged: nothing is wrong with it, it is not finished
            report.pending.append(f"{facts.model} version {facts.version}: {wait}")
            return None
        reason = problem(facts)
        result: ModelUpdate | Skip
        if reason is not None:
            result = Skip(facts.model, facts.version, reason)
        else:
            digest = stated_digest(facts)
            if digest is None:
                try:
                    digest = self.digest(self.location(facts))
                except Exception as exc:  # an artifact that cannot be read: skipped, said why
                    result = Skip(
                        facts.model,
                        facts.version,
                        f"artifact {facts.source} could not be read to digest it ({exc}); "
                        f"or state it in the run tag orchestrator.artifact_digest",
                    )
                else:
                    result = to_update(facts, digest)
            else:
                result = to_update(facts, digest)
        if isinstance(result, Skip):
            report.skipped.append(result)
            if facts.version_tags.get(TAG_SKIPPED) != result.reason[:5000]:
                self.client.set_model_version_tag(
                    facts.model, facts.version, TAG_SKIPPED, result.reason[:5000]
                )
            return None
        return result

    async def publish(self, versions: dict[str, list[Any]], report: PassReport) -> None:
        updates: list[ModelUpdate] = []
        skipped_tag: dict[tuple[str, str], bool] = {}
        for model in self.models:
            for mv in versions.get(model, []):
                update = self.candidate(mv, report)
                if update is not None:
                    updates.append(update)
                    skipped_tag[(update.model, update.version)] = TAG_SKIPPED in (mv.tags or {})
        if not updates:
            return
        # every update acknowledged before any tag: a tag never claims what the broker lacks
        await send_events(self.settings, self.conn, self.catalog, list(updates))
        for update in updates:
            self.client.set_model_version_tag(
                update.model, update.version, TAG_PUBLISHED, update.event_id
            )
            if skipped_tag[(update.model, update.version)]:
                self.client.delete_model_version_tag(update.model, update.version, TAG_SKIPPED)
            report.published.append(update)
            log.info(
                "mlflow.published",
                model=update.model,
                version=update.version,
                event_id=update.event_id,
            )

    # -- orchestrator → MLflow -----------------------------------------------------------------
    async def champions(self) -> dict[str, Any]:
        records = await read_topic(self.conn, self.catalog.name("champions"))
        return latest_champions((key, value) for _, (_, key, value) in records)

    def mirror(self, model: str, record: Any, versions: list[Any], report: PassReport) -> None:
        registered = self.client.get_registered_model(model)
        current = {alias: str(v) for alias, v in (registered.aliases or {}).items()}
        plan = plan_aliases(record, current, {str(v.version) for v in versions})
        report.notes.extend(plan.notes)
        for move in plan.moves:
            if move.to is None:
                self.client.delete_registered_model_alias(model, move.alias)
            else:
                self.client.set_registered_model_alias(model, move.alias, move.to)
            report.moves.append(move)
            log.info(
                "mlflow.alias",
                model=model,
                alias=move.alias,
                to=move.to,
                was=move.was,
                decision_id=record.decision_id,
            )
        if (registered.tags or {}).get(TAG_DECISION) != record.decision_id:
            self.client.set_registered_model_tag(model, TAG_DECISION, record.decision_id)

    # -- one pass ------------------------------------------------------------------------------
    async def sync(self, *, updates: bool = True, aliases: bool = True) -> PassReport:
        report = PassReport()
        versions: dict[str, list[Any]] = {}
        for model in self.models:
            try:
                self.client.get_registered_model(model)
            except Exception as exc:
                if not is_missing(exc):
                    raise
                report.notes.append(f"{model}: no registered model of that name in MLflow")
                continue
            versions[model] = self.versions(model)
        if updates:
            await self.publish(versions, report)
        if aliases:
            champions = await self.champions()
            for model in self.models:
                if model in versions and model in champions:
                    self.mirror(model, champions[model], versions[model], report)
        return report
