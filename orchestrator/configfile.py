"""Loading declarative YAML files with errors that name the file, the field and the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from orchestrator.errors import ConfigError

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
    """Validate `data` as `model`; the first error becomes a ConfigError naming its field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in err["loc"]) or "(file)"
        more = len(exc.errors()) - 1
        reason = err["msg"] + (f" (and {more} more error(s))" if more else "")
        raise ConfigError(str(path), field, reason) from None


def yaml_files(directory: Path) -> list[Path]:
    """The YAML files of a directory in a stable order; a missing directory is a ConfigError."""
    if not directory.is_dir():
        raise ConfigError(str(directory), "(directory)", "does not exist or is not a directory")
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
