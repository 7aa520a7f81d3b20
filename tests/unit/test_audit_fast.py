"""A query from the audit index starts without the rest of the CLI: it answers what the full
path answers, imports no pydantic, Kafka client or DuckDB, and hands anything it does not
handle to the full CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from orchestrator.audit.store import COLUMNS, IndexStore
from orchestrator.catalog.topics import Catalog

ROOT = Path(__file__).resolve().parents[2]
CATALOG = Catalog.load(ROOT / "topics")
WINDOW = "clicks/2026-11-23T10:00:00Z/PT1H"


def index(tmp: Path) -> Path:
    path = tmp / "i.sqlite"
    store = IndexStore(path, {r: CATALOG.name(r) for r in ("audit", "windows", "model_updates")})
    record = {
        "decision_id": "sha256:" + "a" * 64,
        "subject": {"kind": "data_window", "id": WINDOW},
        "revision": 1,
        "outcome": "promote",
        "gate": {"name": "dataset/clicks", "version": 3, "digest": "sha256:p"},
        "checks": [],
        "decided_at": "2026-11-23T11:00:00Z",
    }
    row = dict.fromkeys(c for c, _ in COLUMNS["decisions"])
    row |= {
        "decision_id": record["decision_id"],
        "subject_id": WINDOW,
        "kind": "data_window",
        "revision": 1,
        "outcome": "promote",
        "decided_at": record["decided_at"],
        "decided_ms": 0,
        "gate": "dataset/clicks",
        "gate_version": 3,
        "partition": 0,
        "offset": 7,
        "record": orjson.dumps(record).decode(),
    }
    with store.db:
        store.db.execute(
            f"INSERT INTO decisions VALUES ({', '.join('?' for _ in row)})", list(row.values())
        )
        store.db.execute("INSERT INTO positions VALUES (?, 0, 8, 'x')", [CATALOG.name("audit")])
    store.close()
    return path


def cli(*args: str, importtime: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            *(["-X", "importtime"] if importtime else []),
            "-m",
            "orchestrator",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_")},
        timeout=60,
    )


def test_a_query_from_the_index_imports_only_what_it_needs(tmp_path: Path) -> None:
    """`audit history --no-refresh`: the answer and its as-of line, and not one import of
    pydantic, aiokafka, faust or duckdb on the way."""
    path = index(tmp_path)
    out = cli("audit", "history", WINDOW, "--no-refresh", "--index", str(path), importtime=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "rev 1 promote" in out.stdout and "[0]@8" in out.stdout
    assert "the index" in out.stdout and "not refreshed" in out.stdout
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    heavy = {m for m in imported if m.split(".")[0] in ("pydantic", "aiokafka", "faust", "duckdb")}
    assert not heavy, sorted(heavy)[:5]


def test_the_fast_path_and_the_full_cli_answer_alike(tmp_path: Path) -> None:
    """The same question through the fast path and through the full CLI (forced by --debug):
    the same JSON; an unknown subject is exit 1 through both."""
    path = index(tmp_path)
    args = ["audit", "history", WINDOW, "--no-refresh", "--json", "--index", str(path)]
    fast, full = cli(*args), cli("--debug", *args)
    assert fast.returncode == full.returncode == 0, full.stderr
    assert orjson.loads(fast.stdout) == orjson.loads(full.stdout)
    missing = ["audit", "history", "nope", "--no-refresh", "--index", str(path)]
    a, b = cli(*missing), cli("--debug", *missing)
    assert a.returncode == b.returncode == 1
    assert a.stderr.strip() == b.stderr.strip().splitlines()[-1]
