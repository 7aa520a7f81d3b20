"""`python -m bench.outputs`: the byte-for-byte comparison of every output with another revision
works, says yes for the same code, and no when one output byte differs (no broker needed)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from bench.outputs import derive, write_events
from tests.conftest import ROOT


def test_the_same_revision_is_byte_identical() -> None:
    """HEAD against this checkout (the pure core on both sides: nothing to compile)."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.outputs", "--baseline", "HEAD", "--events", "3000"],
        cwd=ROOT,
        env={**os.environ, "ORCH_PURE_CORE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "byte-identical: yes" in out.stdout
    for role in ("audit", "windows", "late", "dlq"):
        assert f"\n{role} " in out.stdout  # the events reach every output the bench gates have


def test_one_changed_byte_is_found(tmp_path: Path) -> None:
    events, gates = tmp_path / "events.jsonl", tmp_path / "gates"
    write_events(events, gates, 3000)
    first = derive(events, gates, ROOT / "topics")
    assert first == derive(events, gates, ROOT / "topics")  # deterministic
    lines = events.read_text().splitlines()
    # one byte of one event changed (its URI), within a window that fires: its manifest,
    # its decision's inputs digest and so the audit record differ
    p, offset, key, value, ts = json.loads(lines[100])
    raw = base64.b64decode(value).replace(b"part-", b"part_", 1)
    lines[100] = json.dumps([p, offset, key, base64.b64encode(raw).decode(), ts])
    events.write_text("\n".join(lines) + "\n")
    changed = derive(events, gates, ROOT / "topics")
    assert changed["audit"][0] == first["audit"][0]
    assert changed["audit"][1] != first["audit"][1]
    assert changed["windows"][1] != first["windows"][1]
