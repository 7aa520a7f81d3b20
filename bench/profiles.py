"""`python -m bench.profiles`: what data profiles cost per event (README "Drift").

The same arrivals, decoded (contracts) and run through the core (windows, manifests, the data
gate) in memory, four ways in one process: without profiles (the baseline), and with a profile
of 1, 4 and 16 columns (each with 10 bins and 9 quantiles) under a policy that declares them and
checks each for drift (psi, ks, mean shift against the last 5 promoted windows). Prints µs per
event, the ratio to the baseline measured in the same run, and the bytes an arrival's profile
adds on the wire; `--json` writes them.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from orchestrator.contracts.fast import decode_arrival
from orchestrator.core.engine import EventTimeEngine
from orchestrator.policies.datasets import DatasetPolicy, gate_factory

EDGES = [float(e) for e in range(-4, 6)]  # 10 edges: 11 bins
PROBS = [q / 10 for q in range(1, 10)]
AT = datetime(2026, 11, 23, tzinfo=UTC)
BASE_MS = 1_795_392_000_000


def policy(columns: int) -> DatasetPolicy:
    names = [f"c{i}" for i in range(columns)]
    doc: dict[str, Any] = {
        "kind": "dataset",
        "name": "sensors",
        "version": 1,
        "window": "PT1M",
        "out_of_orderness": "PT10S",
        "allowed_lateness": "PT30S",
        "checks": {"record_count": {"min": 1}},
    }
    if columns:
        doc["profile"] = {n: {"bins": EDGES, "quantiles": PROBS} for n in names}
        bound = {"max": 0.5, "severity": "warn"}
        doc["drift"] = {
            "reference": {"last": 5},
            "columns": {n: {"psi": bound, "ks": bound, "mean_shift": bound} for n in names},
        }
    return DatasetPolicy.model_validate(doc)


def column(rng: random.Random) -> dict[str, Any]:
    values = sorted(rng.gauss(0.0, 1.0) for _ in range(50))
    bins = [0] * (len(EDGES) + 1)
    for v in values:
        bins[sum(1 for e in EDGES if v >= e)] += 1
    n = len(values)
    mean = sum(values) / n
    return {
        "count": n,
        "nulls": 0,
        "mean": mean,
        "std": (sum((v - mean) ** 2 for v in values) / n) ** 0.5,
        "min": values[0],
        "max": values[-1],
        "bins": bins,
        "quantiles": [values[int(q * (n - 1))] for q in PROBS],
    }


def events(n: int, columns: int, seed: int = 7) -> list[bytes]:
    """`n` arrivals, one every 2 s of event time (30 a window), in order."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = datetime.fromtimestamp((BASE_MS + i * 2000) / 1000, UTC)
        e: dict[str, Any] = {
            "type": "data.arrival",
            "v": 1,
            "event_id": f"e{i}",
            "dataset": "sensors",
            "source": "s",
            "event_time": t.isoformat().replace("+00:00", "Z"),
            "uri": f"s3://lake/sensors/e{i}.parquet",
            "record_count": 50,
            "checksum": f"sha256:e{i}",
        }
        if columns:
            e["profile"] = {f"c{c}": column(rng) for c in range(columns)}
        out.append(orjson.dumps(e))
    return out


def run(values: list[bytes], columns: int) -> float:
    """Seconds to decode and decide every arrival."""
    p = policy(columns)
    engine = EventTimeEngine(
        {"sensors": p.spec()}, {"sensors": gate_factory(p.gate_spec(), "data.arrivals")}
    )
    key = b"sensors"
    gc.collect()
    started = time.perf_counter()
    for offset, value in enumerate(values):
        engine.handle(decode_arrival(value, key), 0, offset, AT)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.profiles", description=__doc__)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    results: dict[str, Any] = {"events": args.events, "runs": {}}
    base_bytes = 0
    for columns in (0, 1, 4, 16):
        values = events(args.events, columns)
        size = sum(map(len, values)) / len(values)
        if columns == 0:
            base_bytes = round(size)
        times = [run(values, columns) for _ in range(args.repeat)]
        per = statistics.median(times) / args.events * 1e6
        results["runs"][str(columns)] = {
            "us_per_event": round(per, 2),
            "bytes_per_event": round(size),
            "runs_s": [round(t, 3) for t in times],
        }
    base = results["runs"]["0"]["us_per_event"]
    print(f"{'profile columns':>16} {'µs/event':>10} {'x baseline':>11} {'bytes/event':>12}")
    for columns, r in results["runs"].items():
        r["ratio"] = round(r["us_per_event"] / base, 2)
        print(
            f"{columns:>16} {r['us_per_event']:>10.2f} {r['ratio']:>11.2f} "
            f"{r['bytes_per_event']:>12} (+{r['bytes_per_event'] - base_bytes})"
        )
    print(
        "decode + core (windows, manifests with merged profiles, data gate with drift checks), "
        f"median of {args.repeat} runs of {args.events} arrivals; one window per 30 arrivals"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
