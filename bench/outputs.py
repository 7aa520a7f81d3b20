"""`python -m bench.outputs --baseline REV`: every output record of this checkout, byte for byte,
against those of another revision for the same input.

The bench's events (duplicates, conflicts, late ones, every window firing and dropping) are
written once, by this checkout, to a file; each checkout then runs them through its own worker
shell and event-time logic in memory (`derive`, below, run as a script with that checkout's
`orchestrator` first on the path) and reports, per output topic role (windows, audit, late, dlq,
models.log), how many records it wrote and the SHA-256 of all their keys and values in order. The
command prints both and exits 1 unless every role is identical: a lever that changes a single
byte of an audit record, a manifest or a dlq envelope is found here, not in production.

`derive` imports only what both sides have (the shell, the logic, the policies, the catalog), so
the baseline needs none of this checkout's bench code.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

PARTITIONS = 6
#: broker timestamps of the records: the day after the events' times (none is from the future)
APPENDED_MS = 1_795_478_400_000


def write_events(path: Path, gates: Path, n: int) -> None:
    """`n` bench events spread over the partitions by key, as JSON lines, and the bench's
    gates into `gates`."""
    from bench.workload import EventSource, make_gates

    make_gates(gates)
    source = EventSource(seed=7)
    offsets = [0] * PARTITIONS
    with path.open("w") as f:
        for i in range(n):
            key, value = source.next()
            p = int(hashlib.sha256(key).hexdigest(), 16) % PARTITIONS
            line = [p, offsets[p], _b64(key), _b64(value), APPENDED_MS + i]
            f.write(json.dumps(line) + "\n")
            offsets[p] += 1


def derive(events: Path, gates: Path, topics: Path) -> dict[str, list[Any]]:
    """Per output role: [records, sha256 of their keys and values in partition and offset
    order], with the `orchestrator` first on the path."""
    from aiokafka import TopicPartition

    from orchestrator.catalog.topics import Catalog
    from orchestrator.core.windows import EPOCH
    from orchestrator.pipeline.build import Logics
    from orchestrator.pipeline.records import Rec
    from orchestrator.pipeline.shell import Shell
    from orchestrator.policies import Policies

    logics = Logics(Policies.load(gates), Catalog.load(topics))
    topic = logics.catalog.name("arrivals")
    by_partition: dict[int, list[Rec]] = defaultdict(list)
    with events.open() as f:
        for line in f:
            p, offset, key, value, ts = json.loads(line)
            by_partition[p].append(Rec(topic, p, offset, _bytes(key), _bytes(value), ts))
    shell = Shell("outputs", logics.eventtime, keep_changelog=False, limits=logics.limits)
    hashes: dict[str, Any] = defaultdict(hashlib.sha256)
    counts: dict[str, int] = defaultdict(int)
    for p in sorted(by_partition):
        tp = TopicPartition(topic, p)
        shell.start(tp)
        records = by_partition[p]
        for i in range(0, len(records), 500):
            for out in shell.apply_batch(tp, records[i : i + 500], EPOCH):
                h = hashes[out.role]
                for part in (out.key or b"", out.value or b""):
                    h.update(len(part).to_bytes(8, "big"))
                    h.update(part)
                counts[out.role] += 1
    return {role: [counts[role], hashes[role].hexdigest()] for role in sorted(counts)}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def run_derive(root: Path, events: Path, gates: Path) -> dict[str, list[Any]]:
    """`derive` with the code of the checkout at `root` (this file run as a script: the
    baseline's bench has no such module)."""
    from bench.ab import run_in

    out = run_in(root, str(Path(__file__)), "--derive", str(events), str(gates))
    result: dict[str, list[Any]] = json.loads(out.splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.outputs", description=__doc__)
    ap.add_argument("--baseline", help="git revision to compare with")
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--derive", nargs=2, metavar=("EVENTS", "GATES"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.derive:  # run by run_derive, in a checkout
        events, gates = (Path(a) for a in args.derive)
        print(json.dumps(derive(events, gates, Path.cwd() / "topics")))
        return 0
    if not args.baseline:
        ap.error("--baseline REV is required")
    from bench import ROOT, log
    from bench.ab import compile_core, worktree

    with tempfile.TemporaryDirectory(prefix="bench-outputs-") as tmp_name:
        tmp = Path(tmp_name)
        base = worktree(args.baseline, tmp)
        try:
            compile_core(base)
            events, gates = tmp / "events.jsonl", tmp / "gates"
            write_events(events, gates, args.events)
            log(f"deriving {args.events} events with {args.baseline} and with this checkout ...")
            theirs = run_derive(base, events, gates)
            ours = run_derive(ROOT, events, gates)
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False
            )
    same = theirs == ours
    print(f"outputs of {args.events} bench events: {args.baseline} against this checkout")
    print(f"{'role':<12} {'records':>9} {'baseline sha256':<20} {'head sha256':<20} same")
    for role in sorted({*theirs, *ours}):
        t, o = theirs.get(role, [0, "-"]), ours.get(role, [0, "-"])
        print(f"{role:<12} {o[0]:>9} {t[1][:16]:<20} {o[1][:16]:<20} {t == o}")
    print("byte-identical: " + ("yes" if same else "NO"))
    return 0 if same else 1


if __name__ == "__main__":
    # run as a script (`run_derive`): bench/ itself is not a place to import from
    if Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path.pop(0)
    sys.exit(main())
