"""The audit index at a log's length: `audit index` built as a user runs it (peak RSS, rate),
then `audit history` of one window from it (in process, and through the CLI)."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import ROOT
from bench.latency import pct
from bench.results import AuditIndexRun
from orchestrator.audit.index import AuditIndex
from orchestrator.catalog.topics import Catalog
from orchestrator.kafka.clients import Connection


def audit_index(conn: Connection, topics: Path, catalog: Catalog, tmp: Path) -> AuditIndexRun:
    """Build the audit index from a log's topics, as a user runs `audit index` (its peak RSS
    from the kernel's accounting of that one child); then `audit history` of one window: the
    query in process (median and p99 of 50), and the CLI as a user runs it (`--no-refresh`:
    from the index alone; median of 5)."""
    path = tmp / f"audit-{time.time_ns()}.sqlite"
    cli = [sys.executable, "-m", "orchestrator"]
    where = ["--broker", conn.bootstrap, "--topics", str(topics), "--index", str(path)]
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*cli, "audit", "index", *where], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, out
    build = time.perf_counter() - started
    records = int(re.search(r"(\d+) records read", out).group(1))  # type: ignore[union-attr]
    index = AuditIndex(path, catalog, read_only=True)
    try:
        ((subject,),) = index.sql(
            "SELECT subject_id FROM decisions WHERE kind = 'data_window' "
            "ORDER BY decided_ms LIMIT 1"
        )[1]
        times = []
        for _ in range(50):
            t0 = time.perf_counter()
            assert index.history(subject)
            times.append((time.perf_counter() - t0) * 1000)
        (decisions,) = index.sql("SELECT count(*) FROM decisions")[1][0]
    finally:
        index.close()
    cli_ms = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run(
            [*cli, "audit", "history", subject, "--no-refresh", *where],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        cli_ms.append((time.perf_counter() - started) * 1000)
    return AuditIndexRun(
        records=records,
        decisions=decisions,
        build_seconds=build,
        build_records_per_s=records / build,
        build_peak_rss_mb=usage.ru_maxrss / 1024,
        history_query_ms_p50=pct(sorted(times), 0.5),
        history_query_ms_p99=pct(sorted(times), 0.99),
        history_cli_ms=statistics.median(cli_ms),
    )
