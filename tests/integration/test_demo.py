"""`orchestrator demo` end to end on the embedded broker, as a newcomer runs it."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import ROOT, run_cli


def test_demo_runs_and_replay_matches(tmp_path: Path) -> None:
    """The demo starts its own broker, worker and trainer, decides, retrains, stages a rollout,
    rolls back (on lineage, on live degradation, on command), and exits 0 only when replay
    matched."""
    shutil.copytree(ROOT / "topics", tmp_path / "topics")
    shutil.copytree(ROOT / "gates", tmp_path / "gates")
    out = run_cli("demo", "--seed", "11", cwd=tmp_path, timeout=300)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-4000:]
    assert "(embedded)" in out.stdout
    for phase in ("data", "models", "close", "live", "commands", "drift"):
        assert f"phase {phase}:" in out.stdout
    # fraud's staged rollout: crowned by live intervals, then a live-degradation rollback
    assert (
        "staged rollout    fraud:v3 challenger (beside v1), champion after 3 good live intervals"
        in out.stdout
    )
    assert "live degradation  champion fraud:v5 rolled back to v3, E_LIVE_DEGRADED" in out.stdout
    assert "E_DUPLICATE_CONFLICT" in out.stdout and "too late          2" in out.stdout
    for outcome in ("'promote'", "'reject'", "'hold'", "'rollback'", "'denied'", "'override'"):
        assert outcome in out.stdout, outcome
    assert (
        "retraining        " in out.stdout and ":auto-" in out.stdout
    )  # the trainer closed the loop
    # the drift phase: drifted windows, a request with reason drift, the trainer's version
    assert "drift             clicks/" in out.stdout and "session_seconds.psi" in out.stdout
    assert "churn retraining asked (reason drift" in out.stdout
    assert "trainer: churn:auto-" in out.stdout and "not decided yet" not in out.stdout
    assert "training decisions {'retrain':" in out.stdout
    assert "replay verdict: MATCH" in out.stdout and " 0 mismatch, 0 missing, 0 extra" in out.stdout


def test_demo_keep_leaves_the_stack_for_audit_and_replay(tmp_path: Path) -> None:
    """With --keep the broker, worker and trainer stay up: `audit` and `replay` find the demo's
    topics afterwards (no --broker needed), until `orchestrator dev --stop`."""
    shutil.copytree(ROOT / "topics", tmp_path / "topics")
    shutil.copytree(ROOT / "gates", tmp_path / "gates")
    try:
        out = run_cli("demo", "--seed", "3", "--keep", cwd=tmp_path, timeout=300)
        assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
        assert "kept running: broker 127.0.0.1:" in out.stdout
        history = run_cli("audit", "history", "clicks/2026-11-23T00:00:00Z/PT1H", cwd=tmp_path)
        assert history.returncode == 0 and "rev 1" in history.stdout, history.stderr
        # the environment the demo says to source: its EXAMPLE keys and the worker key
        env = dict(
            line.removeprefix("export ").split("=", 1)
            for line in (tmp_path / ".run" / "demo.env").read_text().splitlines()
            if line.startswith("export ")
        )
        replayed = run_cli("replay", cwd=tmp_path, env=env, timeout=240)
        assert "replay verdict: MATCH" in replayed.stdout, replayed.stdout[-2000:] + replayed.stderr
    finally:
        stopped = run_cli("dev", "--stop", cwd=tmp_path)
    assert "worker" in stopped.stdout and "broker" in stopped.stdout
    after = run_cli("audit", "history", "clicks/2026-11-23T00:00:00Z/PT1H", cwd=tmp_path)
    assert after.returncode == 2 and "no broker running" in after.stderr
