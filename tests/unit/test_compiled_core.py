"""The core's two builds: compiled with mypyc (`python -m scripts.build_core`, what `make setup`
does) and pure Python (ORCH_PURE_CORE=1, or any source changed since the build).

The whole test session runs on whichever build is installed; here the core's property, golden
and pinned tests run again in a subprocess on the *other* build, so both are held to the same
behaviour. `make test` sets ORCH_EXPECT_COMPILED=1: a build that silently fell back to pure
Python fails there instead of passing untested."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import orchestrator.core.engine
import orchestrator.core.windows  # noqa: F401
from orchestrator import core

ROOT = Path(__file__).resolve().parents[2]
#: the tests that pin the event-time core's behaviour
CORE_TESTS = [
    "tests/unit/test_event_time_properties.py",
    "tests/unit/test_digest_fast.py",
    "tests/unit/test_decision_wire.py",
    "tests/unit/test_golden.py",
    "tests/unit/test_event_time.py",
    "tests/unit/test_windows_pinned.py",
    "tests/unit/test_engine_pinned.py",
    "tests/unit/test_datagate_pinned.py",
    "tests/unit/test_watermark_pinned.py",
    "tests/unit/test_timeutil_pinned.py",
    "tests/unit/test_timeutil.py",
    "tests/unit/test_replay_derive.py",
]
BUILT = bool(list((ROOT / "orchestrator/core").glob("*.so")))


def probe(env: dict[str, str], root: Path = ROOT) -> str:
    """Which file `orchestrator.core.windows` is loaded from in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", "import orchestrator.core.windows as w; print(w.__file__)"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_the_expected_build_is_the_one_running() -> None:
    if os.environ.get("ORCH_EXPECT_COMPILED") == "1" and os.environ.get("ORCH_PURE_CORE") != "1":
        assert core.USE_COMPILED and "orchestrator.core.windows" in core.compiled_modules(), (
            "make setup should have compiled the core (python -m scripts.build_core)"
        )
    if not core.USE_COMPILED:
        assert core.compiled_modules() == []


@pytest.mark.skipif(not BUILT, reason="the core is not compiled here: one build only")
def test_pure_switch_loads_every_module_from_source() -> None:
    assert probe({"ORCH_PURE_CORE": "1"}).endswith("windows.py")
    assert probe({"ORCH_PURE_CORE": ""}).endswith(".so") == core.USE_COMPILED


@pytest.mark.skipif(not BUILT, reason="the core is not compiled here: one build only")
def test_an_edited_source_is_used_instead_of_its_stale_build(tmp_path: Path) -> None:
    """A compiled module built from other source would hide the edit: never used then."""
    shutil.copytree(ROOT / "orchestrator", tmp_path / "orchestrator")
    assert probe({"ORCH_PURE_CORE": ""}, tmp_path).endswith(".so")
    edited = tmp_path / "orchestrator/core/timeutil.py"  # another module of the same build
    edited.write_text(edited.read_text() + "\n# edited\n")
    assert probe({"ORCH_PURE_CORE": ""}, tmp_path).endswith("windows.py")


@pytest.mark.skipif(not BUILT, reason="the core is not compiled here: one build only")
def test_the_core_tests_pass_on_the_other_build() -> None:
    other = "" if os.environ.get("ORCH_PURE_CORE") == "1" else "1"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *CORE_TESTS],
        cwd=ROOT,
        env={**os.environ, "ORCH_PURE_CORE": other, "ORCH_EXPECT_COMPILED": ""},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
