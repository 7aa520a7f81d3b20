"""State snapshots: the shell writes a partition's state in parts with a digest; replay with a
`since` bound starts from the nearest earlier snapshot that verifies, and derives exactly the
decisions it derives from offset 0; a snapshot that does not verify is passed over."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import TopicPartition

from orchestrator.catalog.topics import Catalog
from orchestrator.core.windows import EPOCH
from orchestrator.kafka.read import TimedRecord
from orchestrator.pipeline.build import Logics
from orchestrator.pipeline.records import Rec
from orchestrator.pipeline.shell import Shell
from orchestrator.policies import Policies
from orchestrator.replay import MemorySource, Range, derive_data
from orchestrator.replay.snapshots import find_snapshots
from tests.unit.replay_support import partitions

ROOT = Path(__file__).resolve().parents[2]
CATALOG = Catalog.load(ROOT / "topics")
TOPIC = "data.arrivals"
SNAPS = "state.snapshots"
TAKEN = datetime(2026, 11, 24, tzinfo=UTC)


def snapshots_at(records: list[TimedRecord], cuts: list[int], part_bytes: int) -> list[TimedRecord]:
    """What a worker writes to the snapshot topic after handling records[:cut] for each cut."""
    logic = Logics(Policies.load(ROOT / "gates"), CATALOG).eventtime
    shell: Shell[Any] = Shell("test", logic, keep_changelog=False)
    tp = TopicPartition(TOPIC, 0)
    shell.start(tp)
    out: list[TimedRecord] = []
    done = 0
    for cut in cuts:
        recs = [Rec(TOPIC, 0, *r) for r in records[done:cut]]
        shell.apply_batch(tp, recs, EPOCH)
        done = cut
        for o in shell.snapshot(tp, records[cut - 1][3], TAKEN, part_bytes):
            out.append((len(out), o.key, o.value, 0))
    return out


def test_replay_from_a_snapshot_derives_what_replay_from_zero_derives() -> None:
    data = partitions(1)
    records = data[0]
    since = records[len(records) // 2][3]  # broker time of the middle record
    snaps = snapshots_at(records, [5, len(records) // 2 - 1, len(records) - 1], part_bytes=300)
    assert max(orjson.loads(v or b"")["parts"] for _, _, v, _ in snaps) > 1  # several parts
    source = MemorySource({TOPIC: data, SNAPS: {0: snaps}}, chunk=4)
    found = find_snapshots(source, SNAPS, TOPIC, since)
    (start,) = found.by_partition.values()
    assert start.position == len(records) // 2 - 1 and found.rejected == 0
    policies = Policies.load(ROOT / "gates")
    rng = Range(since_ms=since)
    fresh = derive_data(Logics(policies, CATALOG), source, rng, processes=1)
    resumed = derive_data(
        Logics(policies, CATALOG), source, rng, processes=1, snapshots=found.by_partition
    )
    assert fresh.decisions, "the range must hold decisions, or this proves nothing"
    assert resumed.decisions == fresh.decisions and resumed.bounds == fresh.bounds
    assert resumed.events == len(records) - start.position < fresh.events


def test_a_snapshot_that_does_not_verify_is_passed_over() -> None:
    """One entry changed after the digest was taken: the earlier snapshot is used instead."""
    records = partitions(1)[0]
    snaps = snapshots_at(records, [5, len(records) - 2], part_bytes=10**6)
    last = orjson.loads(snaps[-1][2] or b"")
    key, value = last["entries"][0]
    last["entries"][0] = [key, {"forged": value}]
    snaps[-1] = (snaps[-1][0], snaps[-1][1], orjson.dumps(last), 0)
    source = MemorySource({TOPIC: {0: records}, SNAPS: {0: snaps}})
    found = find_snapshots(source, SNAPS, TOPIC, records[-1][3] + 1)
    assert found.rejected == 1 and found.by_partition[0].position == 5


def test_a_snapshot_missing_a_part_is_never_used() -> None:
    records = partitions(1)[0]
    snaps = snapshots_at(records, [len(records) - 2], part_bytes=300)
    source = MemorySource({TOPIC: {0: records}, SNAPS: {0: snaps[:-1]}})
    found = find_snapshots(source, SNAPS, TOPIC, records[-1][3] + 1)
    assert found.by_partition == {} and found.rejected == 0
