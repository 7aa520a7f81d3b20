"""The bench's peer, Quix Streams (`bench/peers/quix_count.py`), run over the same topic and
events as L3..L5, in its own environment (`.venv-quix`, made by `make bench` and `make test`
from `bench/peers/quix-requirements.txt`)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import orjson

from bench import ROOT
from bench.results import PeerRun
from orchestrator.kafka.clients import Connection

#: the peer's interpreter (its environment holds quixstreams and nothing of ours)
QUIX_PYTHON = ROOT / ".venv-quix" / "bin" / "python"
SCRIPT = ROOT / "bench" / "peers" / "quix_count.py"
REQUIREMENTS = ROOT / "bench" / "peers" / "quix-requirements.txt"


def quix_version() -> str:
    for line in REQUIREMENTS.read_text().splitlines():
        if line.lower().startswith("quixstreams=="):
            return line.split("==", 1)[1]
    return "?"


def quix_run(conn: Connection, topic: str, n: int, tmp: Path) -> PeerRun:
    """Quix Streams' windowed count over the first n events of `topic`, in a process of its
    own: throughput and CPU per event from its first event to its n-th."""
    if not QUIX_PYTHON.exists():
        raise SystemExit(
            f"{QUIX_PYTHON} is missing: `make bench` (or `make bench-peer`) makes the peer's "
            "environment"
        )
    tag = f"{topic}-quix-{time.time_ns() % 10**8}"
    out = subprocess.run(
        [
            str(QUIX_PYTHON),
            str(SCRIPT),
            "--broker",
            conn.bootstrap,
            "--input",
            topic,
            "--output",
            f"{tag}.counts",
            "--group",
            tag,
            "--events",
            str(n),
            "--state-dir",
            str(tmp / tag),
        ],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the Quix Streams peer failed: {out.stderr[-2000:]}")
    figures = orjson.loads(out.stdout.strip().splitlines()[-1])
    return PeerRun(
        name="quixstreams",
        version=quix_version(),
        events_per_s=figures["events_per_s"],
        cpu_us_per_event=figures["cpu_us_per_event"],
        seconds=figures["seconds"],
        windows=figures["windows"],
        late_dropped=figures["late_dropped"],
    )
