"""Registering a trained model in MLflow so that the bridge can publish it (the example
trainer's MLflow mode): a run with the metrics, the params and the tags the bridge reads
(`orchestrator.trained_on`, `orchestrator.artifact_digest`, `orchestrator.code_version`),
the artifact directory logged under `model/`, and a version of the registered model whose
source is that directory."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.mlflow_bridge.plan import (
    TAG_CODE_VERSION,
    TAG_DIGEST,
    TAG_TRAINED_ON,
)
from orchestrator.mlflow_bridge.sync import is_missing, path_digest

#: run and version tag: the training request a version answers (one version per request)
TAG_REQUEST = "orchestrator.request_id"
#: why the orchestrator asked for the run: every, drift, live or plateau (README "Retraining
#: triggers")
TAG_REASON = "orchestrator.retrain_reason"


@dataclass(frozen=True)
class Registered:
    model: str
    version: str
    run_id: str
    #: False: an earlier attempt had registered this request already (nothing new was made)
    new: bool


def _experiment_id(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except Exception as exc:  # created meanwhile by another trainer
        if getattr(exc, "error_code", None) != "RESOURCE_ALREADY_EXISTS":
            raise
        return str(client.get_experiment_by_name(name).experiment_id)


def _existing(client: Any, model: str, request_id: str) -> Any | None:
    """The version registered earlier for this request, if any (a retried request after a
    crash between registering and committing the consumer offset)."""
    try:
        client.get_registered_model(model)
    except Exception as exc:
        if not is_missing(exc):
            raise
        return None
    token = None
    while True:
        page = client.search_model_versions(f"name='{model}'", max_results=200, page_token=token)
        for mv in page:
            if (mv.tags or {}).get(TAG_REQUEST) == request_id:
                return mv
        token = getattr(page, "token", None)
        if not token:
            return None


def register(
    client: Any,
    *,
    experiment: str,
    model: str,
    request_id: str,
    artifact_dir: Path,
    metrics: dict[str, float],
    params: dict[str, Any],
    trained_on: list[str],
    code_version: str | None,
    reason: str | None = None,
) -> Registered:
    """Log a run and register its artifact as a new version of `model` (once per request)."""
    from mlflow.entities import Metric, Param, RunTag

    earlier = _existing(client, model, request_id)
    if earlier is not None:
        return Registered(model, str(earlier.version), str(earlier.run_id), new=False)
    tags = {
        TAG_TRAINED_ON: json.dumps(trained_on),
        TAG_DIGEST: path_digest(artifact_dir),
        TAG_REQUEST: request_id,
    }
    if code_version:
        tags[TAG_CODE_VERSION] = code_version
    if reason:
        tags[TAG_REASON] = reason
    run = client.create_run(
        _experiment_id(client, experiment), run_name=f"{model}-{request_id[-10:]}"
    )
    run_id = run.info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), 0, 0) for k, v in sorted(metrics.items())],
        params=[Param(k, str(v)) for k, v in sorted(params.items())],
        tags=[RunTag(k, v) for k, v in tags.items()],
    )
    client.log_artifacts(run_id, str(artifact_dir), "model")
    client.set_terminated(run_id)
    try:
        client.create_registered_model(model)
    except Exception as exc:
        if getattr(exc, "error_code", None) != "RESOURCE_ALREADY_EXISTS":
            raise
    mv = client.create_model_version(
        model, f"{run.info.artifact_uri}/model", run_id, tags={TAG_REQUEST: request_id}
    )
    return Registered(model, str(mv.version), run_id, new=True)
