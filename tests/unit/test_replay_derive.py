"""Replay derives data-window decisions partition by partition; in forked processes or not, the
result must be the same decisions in the same order."""

from __future__ import annotations

from pathlib import Path

import orjson

from orchestrator.catalog.topics import Catalog
from orchestrator.kafka.read import TimedRecord
from orchestrator.pipeline.build import Logics
from orchestrator.policies import Policies
from orchestrator.replay import Range, derive_data
from tests.unit.replay_support import partitions, src

ROOT = Path(__file__).resolve().parents[2]
CATALOG = Catalog.load(ROOT / "topics")


def test_parallel_derivation_equals_sequential() -> None:
    policies = Policies.load(ROOT / "gates")
    data = partitions(2)
    seq = derive_data(Logics(policies, CATALOG), src(data), Range(), processes=1)
    par = derive_data(Logics(policies, CATALOG), src(data), Range(), processes=2)
    assert seq.decisions, "the scenario must produce decisions, or this test proves nothing"
    assert {d["subject"]["id"].split("/")[0] for d in seq.decisions} == {"clicks", "payments"}
    assert seq.log, "the gates' models list clicks: its decisions are fanned out"
    assert par == seq
    assert par.events == sum(len(r) for r in data.values())


def test_parallel_order_does_not_follow_partition_sizes() -> None:
    """However the processes share the partitions, decisions come in partition order."""
    policies = Policies.load(ROOT / "gates")
    data = partitions(3, clicks=0, others=2)
    _, key, value, ts = data[0].pop()  # the undecodable record alone in partition 1
    data[1].append((0, key, value, ts))
    sizes = {p: len(r) for p, r in data.items()}
    assert sizes[2] > sizes[0] > sizes[1], sizes  # the premise: the last partition is largest
    seq = derive_data(Logics(policies, CATALOG), src(data), Range(), processes=1)
    par = derive_data(Logics(policies, CATALOG), src(data), Range(), processes=2)
    assert par == seq
    datasets = [d["subject"]["id"].split("/")[0] for d in par.decisions]
    assert datasets == sorted(datasets, key=lambda name: name != "clicks")  # partition 0 first
    assert datasets[0] == "clicks" and datasets[-1] != "clicks"


def test_offset_range_limits_partitions_in_both_modes() -> None:
    policies = Policies.load(ROOT / "gates")
    data = partitions(2)
    rng = Range(from_offsets={1: 0})
    seq = derive_data(Logics(policies, CATALOG), src(data), rng, processes=1)
    par = derive_data(Logics(policies, CATALOG), src(data), rng, processes=2)
    assert set(seq.bounds) == {1}
    assert [d["decision_id"] for d in par.decisions] == [d["decision_id"] for d in seq.decisions]
    assert seq.decisions
    assert all(d["subject"]["id"].startswith("payments/") for d in seq.decisions)


def test_derivation_gives_the_core_s_own_decisions() -> None:
    """Replay's decisions, sequential or parallel, are what the bare core decides for each
    partition's records (not only equal to each other)."""
    from orchestrator.contracts.codec import decode, encode
    from orchestrator.core.effects import Decided
    from orchestrator.core.engine import EventTimeEngine
    from orchestrator.core.windows import EPOCH
    from orchestrator.errors import ContractError

    policies = Policies.load(ROOT / "gates")
    data = partitions(2)
    want = []
    for p, records in sorted(data.items()):
        engine = EventTimeEngine(policies.dataset_specs(), policies.data_gates("data.arrivals"))
        for offset, key, value, ts in records:
            try:
                event = decode(value, key, topic_role="arrivals")
            except ContractError:
                engine.skip(offset)
                continue
            for e in engine.handle(event, p, offset, EPOCH, ts):  # type: ignore[arg-type]
                if isinstance(e, Decided):
                    want.append(orjson.loads(encode(e.decision)))
    assert want
    for processes in (1, 2):
        got = derive_data(Logics(policies, CATALOG), src(data), Range(), processes=processes)
        assert got.decisions == want


def test_bounds_are_found_while_reading_in_chunks() -> None:
    """--from/--to offsets and --since/--until cut a partition the same way whatever the chunk
    size: read up to the upper bound, compare from the first record at or after the lower."""
    from orchestrator.replay.ranges import NONE_IN_RANGE

    records: list[TimedRecord] = [(o, b"k", b"v", 1000 + 10 * o) for o in range(50)]
    cases = [
        (Range(), (0, 49), 50),
        (Range(from_offsets={0: 5}, to_offsets={0: 20}), (5, 20), 21),
        (Range(since_ms=1000 + 10 * 12 - 5, until_ms=1000 + 10 * 30 + 5), (12, 30), 31),
        (Range(since_ms=99_999), (NONE_IN_RANGE, 49), 50),
        (Range(until_ms=0), (0, -1), 0),
    ]
    for rng, pair, read in cases:
        for chunk in (1, 7, 100):
            bounds = rng.cursor(0, use_offsets=True)
            taken = []
            for i in range(0, len(records), chunk):
                taken += bounds.take(records[i : i + chunk])
                if bounds.done:
                    break
            assert (bounds.pair, len(taken)) == (pair, read), (rng, chunk)
