"""The MLflow client for the tests that need it: skipped without the [mlflow] extra, unless
ORCH_EXPECT_MLFLOW=1 says it must be there (`make test`): then they fail, so a CI run without
the extra cannot pass with the bridge's tests silently skipped."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

EXPECT_ENV = "ORCH_EXPECT_MLFLOW"


def mlflow_tracking() -> ModuleType:
    """`mlflow.tracking`, or a skip (a failure under ORCH_EXPECT_MLFLOW=1) without it."""
    if os.environ.get(EXPECT_ENV) == "1":
        try:
            return importlib.import_module("mlflow.tracking")
        except ImportError as exc:
            pytest.fail(
                f"{EXPECT_ENV}=1 but the MLflow client does not import ({exc}): "
                "pip install -e '.[mlflow]' in the repository (the package is not on PyPI)",
                pytrace=False,
            )
    return pytest.importorskip("mlflow.tracking", reason="needs the [mlflow] extra")
