"""Declarative policies in `gates/`, validated at start-up with file, field and reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from orchestrator.configfile import Problems, load_yaml, validate, yaml_files
from orchestrator.core.datagate import DataGate
from orchestrator.core.policy import KAFKA_DEFAULT_MAX_MESSAGE_BYTES, DatasetSpec
from orchestrator.errors import ConfigError
from orchestrator.policies.access import AccessPolicy
from orchestrator.policies.common import policy_digest
from orchestrator.policies.datasets import DatasetPolicy, gate_factory
from orchestrator.policies.models import ModelPolicy

__all__ = ["AccessPolicy", "DatasetPolicy", "ModelPolicy", "Policies", "policy_digest"]

M = TypeVar("M", bound=BaseModel)


class Policies:
    """Everything loaded from the gates directory, validated as a whole."""

    def __init__(
        self,
        datasets: dict[str, DatasetPolicy],
        models: dict[str, ModelPolicy],
        access: AccessPolicy,
    ) -> None:
        self.datasets = datasets
        self.models = models
        self.access = access

    def dataset_specs(
        self, record_limit: int = KAFKA_DEFAULT_MAX_MESSAGE_BYTES
    ) -> dict[str, DatasetSpec]:
        """Per dataset, its event-time spec (`record_limit`: see DatasetPolicy.spec)."""
        return {name: p.spec(record_limit) for name, p in self.datasets.items()}

    def fanout(self) -> dict[str, list[str]]:
        """The data → model fan-out: dataset -> the models whose policy lists it, by name."""
        out: dict[str, list[str]] = {}
        for model, policy in sorted(self.models.items()):
            for ds in policy.datasets:
                out.setdefault(ds, []).append(model)
        return out

    def data_gates(self, arrivals_topic: str) -> dict[str, Callable[[], DataGate]]:
        """Per dataset, a factory of its data gate (one gate per partition engine)."""
        return {
            name: gate_factory(p.gate_spec(), arrivals_topic) for name, p in self.datasets.items()
        }

    @classmethod
    def load(cls, gates_dir: Path) -> Policies:
        """Every file of `gates_dir`; a ConfigError names every problem of every file."""
        problems = Problems()
        datasets = _load_named(gates_dir / "datasets", DatasetPolicy, problems)
        datasets_ok = not problems.found  # else a model may name a dataset whose file is bad
        models_dir = gates_dir / "models"
        models = _load_named(models_dir, ModelPolicy, problems) if models_dir.is_dir() else {}
        models_ok = not problems.found
        for name, policy in models.items():
            path = str(models_dir / f"{name}.yaml")
            unknown = [d for d in policy.datasets if d not in datasets]
            if unknown and datasets_ok:
                problems.add(path, "datasets", f"no dataset policy for {unknown}")
            drift = policy.retrain_on.drift if policy.retrain_on else None
            for ds in drift.datasets if drift else ():
                if ds not in policy.datasets:
                    problems.add(path, "retrain_on.drift.datasets", f"{ds!r} is not in datasets")
                elif datasets_ok and ds in datasets and datasets[ds].drift is None:
                    problems.add(
                        path,
                        "retrain_on.drift.datasets",
                        f"dataset {ds!r} has no drift checks: its drift can never ask",
                    )
        access = AccessPolicy(kind="access", version=1)
        access_path = gates_dir / "access.yaml"
        if access_path.is_file():
            with problems.collect():
                access = validate(AccessPolicy, load_yaml(access_path), access_path)
            for actor, spec in access.actors.items():
                if (spec.key_env is None) == (spec.key_file is None):
                    problems.add(
                        str(access_path),
                        f"actors.{actor}",
                        "set exactly one of key_env or key_file",
                    )
                for i, grant in enumerate(spec.allow):
                    unknown = [m for m in grant.models if m not in models and m != "*"]
                    if unknown and models_ok:
                        problems.add(
                            str(access_path),
                            f"actors.{actor}.allow.{i}.models",
                            f"no model policy for {unknown}",
                        )
        problems.raise_if_any()
        return cls(datasets, models, access)


def _load_named(directory: Path, model: type[M], problems: Problems) -> dict[str, M]:
    """Load `<name>.yaml` files whose `name` field matches the file name; a file with problems
    adds them to `problems` and is left out."""
    out: dict[str, M] = {}
    for path in yaml_files(directory):
        with problems.collect():
            policy = validate(model, load_yaml(path), path)
            name = policy.name  # type: ignore[attr-defined]
            if path.stem != name:
                raise ConfigError(str(path), "name", f"must match the file name ({path.stem!r})")
            out[name] = policy
    return out
