"""`orchestrator demo` end to end on the embedded broker, as a newcomer runs it."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import ROOT, run_cli


def test_demo_runs_and_verifies(tmp_path: Path) -> None:
    """The demo starts its own embedded broker and worker, and exits 0 only on a matching verdict."""
    shutil.copytree(ROOT / "topics", tmp_path / "topics")
    shutil.copytree(ROOT / "gates", tmp_path / "gates")
    out = run_cli("demo", "--seed", "11", cwd=tmp_path, timeout=240)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "(embedded)" in out.stdout
    assert (
        "verdict: every window, late arrival and rejection re-derived from the input matches"
        in out.stdout
    )
    assert "E_DUPLICATE_CONFLICT" in out.stdout and "too late:       2" in out.stdout
