"""The bench's peer: Quix Streams doing the nearest thing the orchestrator does, over the same
topic and events. Run by `bench/peer.py` with the interpreter of its own environment
(`.venv-quix`, pinned in `bench/peers/quix-requirements.txt`); it imports nothing of the
orchestrator.

What it runs: `data.arrivals` read as JSON, event time taken from each event's `event_time`,
per dataset (the record key) a tumbling 1-minute window with 30 s grace (the bench's
`window`/`allowed_lateness`), a count per window, each window's final count sent to an output
topic; RocksDB state with its changelog topic, at-least-once, a commit every 5 s (Quix's
defaults). It does far less than the worker: no dedupe (a duplicate is counted twice), late
events dropped without a record, no revisions, no gates, no audit.

Prints one JSON line: events, seconds and CPU seconds from the first event processed to the
n-th, and the windows it emitted."""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
import warnings
from datetime import datetime
from typing import Any

warnings.simplefilter("ignore")  # the peer's own dependencies' deprecation notes

from quixstreams import Application  # noqa: E402


def cpu_s() -> float:
    """CPU seconds of this process, every thread (librdkafka's included)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--events", type=int, required=True)
    ap.add_argument("--state-dir", required=True)
    args = ap.parse_args()
    seen = {"n": 0, "t0": 0.0, "cpu0": 0.0, "t1": 0.0, "cpu1": 0.0, "windows": 0, "late": 0}
    apps: list[Application] = []

    def event_time(value: Any, headers: Any, timestamp: float, timestamp_type: Any) -> int:
        return int(datetime.fromisoformat(value["event_time"]).timestamp() * 1000)

    def processed(topic: str, partition: int, offset: int) -> None:
        if topic != args.input:
            return
        seen["n"] += 1
        if seen["n"] == 1:
            seen["t0"], seen["cpu0"] = time.perf_counter(), cpu_s()
        if seen["n"] == args.events:
            seen["t1"], seen["cpu1"] = time.perf_counter(), cpu_s()
            apps[0].stop()

    def late(*_: Any) -> bool:
        seen["late"] += 1
        return False  # dropped, as by default, but not logged: logging is not what is measured

    def emitted(row: Any) -> Any:
        seen["windows"] += 1
        return row

    app = Application(
        broker_address=args.broker,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        loglevel="WARNING",
        processing_guarantee="at-least-once",
        on_message_processed=processed,
    )
    apps.append(app)
    logging.getLogger("quixstreams").setLevel(logging.WARNING)
    source = app.topic(args.input, value_deserializer="json", timestamp_extractor=event_time)
    sink = app.topic(args.output, value_serializer="json")
    sdf = app.dataframe(source)
    sdf = sdf.tumbling_window(duration_ms=60_000, grace_ms=30_000, on_late=late).count().final()
    sdf = sdf.apply(emitted)
    sdf.to_topic(sink)
    app.run()
    if seen["n"] < args.events:
        print(f"quix stopped after {seen['n']} of {args.events} events", file=sys.stderr)
        return 1
    n = args.events - 1  # timed from the first event processed to the n-th
    wall, cpu = seen["t1"] - seen["t0"], seen["cpu1"] - seen["cpu0"]
    print(
        json.dumps(
            {
                "events_per_s": n / wall if wall else 0.0,
                "cpu_us_per_event": cpu / n * 1e6 if n else 0.0,
                "seconds": wall,
                "windows": seen["windows"],
                "late_dropped": seen["late"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
