"""`python -m bench.profiles` runs and writes every figure (no timing is asserted)."""

from __future__ import annotations

from pathlib import Path

import orjson

from bench import profiles


def test_the_profile_bench_writes_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "profiles.json"
    assert profiles.main(["--events", "90", "--repeat", "1", "--json", str(out)]) == 0
    result = orjson.loads(out.read_bytes())
    assert result["events"] == 90
    assert set(result["runs"]) == {"0", "1", "4", "16"}
    for run in result["runs"].values():
        assert run["us_per_event"] > 0 and run["ratio"] > 0 and len(run["runs_s"]) == 1
    sizes = [result["runs"][c]["bytes_per_event"] for c in ("0", "1", "4", "16")]
    assert sizes == sorted(sizes) and sizes[0] < sizes[1]
