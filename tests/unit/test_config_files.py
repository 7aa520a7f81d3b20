"""Catalog and policy files: the shipped ones load; bad ones fail with file, field and reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.catalog.topics import ROLES, Catalog
from orchestrator.errors import ConfigError
from orchestrator.policies import Policies
from tests.conftest import ROOT, make_catalog


def test_shipped_catalog_loads() -> None:
    """topics/ has one valid file per role."""
    catalog = Catalog.load(ROOT / "topics")
    assert [s.role for s in catalog] == list(ROLES)
    assert catalog.specs["champions"].cleanup_policy == "compact"
    assert catalog.specs["audit"].retention_ms == -1


def _break(directory: Path, file: str, **changes: object) -> None:
    path = directory / file
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data))


@pytest.mark.parametrize(
    ("file", "changes", "field", "reason"),
    [
        ("dlq.yaml", {"partitions": 0}, "partitions", "greater than or equal to 1"),
        ("dlq.yaml", {"cleanup_policy": "shred"}, "cleanup_policy", "Input should be"),
        ("dlq.yaml", {"retention": "P1M"}, "retention", "ISO 8601"),
        ("dlq.yaml", {"value": ["no.such.type"]}, "value", "unknown value type"),
        ("dlq.yaml", {"name": "bad name!"}, "name", "String should match"),
        ("dlq.yaml", {"colour": "blue"}, "colour", "Extra inputs are not permitted"),
        ("dlq.yaml", {"role": "commands"}, "role", "already defined"),
    ],
)
def test_invalid_catalog(
    tmp_path: Path, file: str, changes: dict[str, object], field: str, reason: str
) -> None:
    """An invalid catalog file names the file, the field and the reason."""
    directory = make_catalog(tmp_path / "t", "x")
    _break(directory, file, **changes)
    with pytest.raises(ConfigError) as info:
        Catalog.load(directory)
    assert info.value.field == field
    assert reason in info.value.reason
    assert info.value.file.endswith(".yaml")


def test_catalog_missing_role(tmp_path: Path) -> None:
    """A catalog without a topic for some role is refused."""
    directory = make_catalog(tmp_path / "t", "x")
    (directory / "dlq.yaml").unlink()
    with pytest.raises(ConfigError, match="dlq"):
        Catalog.load(directory)


def test_catalog_not_yaml(tmp_path: Path) -> None:
    """A file that is not YAML is named with its line."""
    directory = make_catalog(tmp_path / "t", "x")
    (directory / "dlq.yaml").write_text("kind: [topic\n")
    with pytest.raises(ConfigError) as info:
        Catalog.load(directory)
    assert "dlq.yaml" in info.value.file and "invalid YAML" in info.value.reason


def test_shipped_policies_load() -> None:
    """gates/datasets has valid dataset policies."""
    specs = Policies.load(ROOT / "gates").dataset_specs()
    assert specs["clicks"].window_ms == 3_600_000
    assert specs["clicks"].required_sources == frozenset({"eu", "us"})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"window": "PT0S"}, "window"),
        ({"window": "PT1.5S"}, "window"),
        ({"window": "P1M"}, "window"),
        ({"allowed_lateness": "soon"}, "allowed_lateness"),
        ({"version": 0}, "version"),
        ({"checks": {"record_count": {"min": -1}}}, "checks.record_count.min"),
        (
            {"checks": {"volume_drift": {"last": 3, "max_ratio": 0.5}}},
            "checks.volume_drift.max_ratio",
        ),
    ],
)
def test_invalid_dataset_policy(tmp_path: Path, changes: dict[str, object], field: str) -> None:
    """A bad dataset policy fails with file, field and reason."""
    (tmp_path / "datasets").mkdir()
    data = yaml.safe_load((ROOT / "gates/datasets/clicks.yaml").read_text())
    data.update(changes)
    (tmp_path / "datasets/clicks.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        Policies.load(tmp_path)
    assert info.value.field == field and "clicks.yaml" in info.value.file
