"""Loading declarative YAML files with errors that name the file, the field and the reason."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from orchestrator.errors import ConfigError, ConfigProblem

M = TypeVar("M", bound=BaseModel)


def load_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML mapping; a parse error or a non-mapping is a ConfigError."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise ConfigError(str(path), where, f"invalid YAML: {exc}") from None
    except OSError as exc:
        raise ConfigError(str(path), "(file)", exc.strerror or str(exc)) from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), "(file)", "must be a YAML mapping")
    return data


def validate(model: type[M], data: dict[str, Any], path: Path) -> M:
    """Validate `data` as `model`; a ConfigError names every invalid field, each with its reason."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError.of(problems_of(exc, str(path))) from None


def problems_of(exc: ValidationError, file: str) -> list[ConfigProblem]:
    """Every error of a pydantic validation as a problem naming the file, field and reason."""
    return [
        ConfigProblem(
            file,
            ".".join(str(p) for p in err["loc"]) or "(file)",
            str(err["msg"]).removeprefix("Value error, "),
        )
        for err in exc.errors(include_url=False)
    ]


class Problems:
    """Collects the problems of several files (or checks) so a loader reports them all at once."""

    def __init__(self) -> None:
        self.found: list[ConfigProblem] = []

    @contextlib.contextmanager
    def collect(self) -> Iterator[None]:
        """Keep a ConfigError raised in the block and carry on after it."""
        try:
            yield
        except ConfigError as exc:
            self.found.extend(exc.problems)

    def add(self, file: str, field: str, reason: str) -> None:
        self.found.append(ConfigProblem(file, field, reason))

    def raise_if_any(self) -> None:
        if self.found:
            raise ConfigError.of(self.found)


def yaml_files(directory: Path) -> list[Path]:
    """The YAML files of a directory in a stable order; a missing directory is a ConfigError."""
    if not directory.is_dir():
        raise ConfigError(str(directory), "(directory)", "does not exist or is not a directory")
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
