"""`orchestrator demo` end to end on the embedded broker, as a newcomer runs it."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import ROOT, run_cli


def test_demo_runs_and_replay_matches(tmp_path: Path) -> None:
    """The demo starts its own broker, worker and trainer, decides, retrains, rolls back, and
    exits 0 only when replay matched."""
    shutil.copytree(ROOT / "topics", tmp_path / "topics")
    shutil.copytree(ROOT / "gates", tmp_path / "gates")
    out = run_cli("demo", "--seed", "11", cwd=tmp_path, timeout=300)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-4000:]
    assert "(embedded)" in out.stdout
    for phase in ("data", "models", "close", "commands"):
        assert f"phase {phase}:" in out.stdout
    assert "E_DUPLICATE_CONFLICT" in out.stdout and "too late          2" in out.stdout
    for outcome in ("'promote'", "'reject'", "'hold'", "'rollback'", "'denied'", "'override'"):
        assert outcome in out.stdout, outcome
    assert (
        "retraining        " in out.stdout and ":auto-" in out.stdout
    )  # the trainer closed the loop
    assert "replay verdict: MATCH" in out.stdout and " 0 mismatch, 0 missing, 0 extra" in out.stdout
