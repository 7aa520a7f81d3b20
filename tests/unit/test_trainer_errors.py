"""The example trainer fails like every verb: one line naming what to fix, exit 2, no
traceback (it printed one on its default broker before)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def trainer(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.examples.trainer", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)},
    )


def test_no_broker_running_is_one_line(tmp_path: Path) -> None:
    for extra in ([], ["--mlflow-tracking-uri", "http://127.0.0.1:9"]):
        out = trainer(tmp_path, "--topics", str(ROOT / "topics"), *extra)
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("trainer: error: no broker running"), lines
        assert "Traceback" not in out.stderr


def test_a_missing_catalog_and_a_dead_broker_are_one_line(tmp_path: Path) -> None:
    out = trainer(tmp_path)  # ./topics is not there
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith("trainer: error: topics: (directory)"), out.stderr
    out = trainer(tmp_path, "--topics", str(ROOT / "topics"), "--broker", "127.0.0.1:9")
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith("trainer: error: broker 127.0.0.1:9: "), out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
