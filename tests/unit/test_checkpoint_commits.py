"""An input's offsets follow its durable positions under at_least_once, even when a commit
fails: the next checkpoint commits them again although nothing changed since (CI once waited
300 s for offsets a commit refused during a rebalance had left behind)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import RebalanceInProgressError

from orchestrator.pipeline.shell import Checkpoint
from orchestrator.worker.checkpoints import Checkpoints

TP0 = TopicPartition("in", 0)
TP1 = TopicPartition("in", 1)


@dataclass
class Consumer:
    """A consumer's commit as the broker answers it: `refuse` commits fail, then they land."""

    assigned: set[TopicPartition]
    refuse: int = 0
    offsets: dict[TopicPartition, int] = field(default_factory=dict)

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.refuse:
            self.refuse -= 1
            raise RebalanceInProgressError
        self.offsets.update(offsets)


@dataclass
class Shell:
    """The shell's side of a checkpoint: what changed since the last one."""

    engines: dict[TopicPartition, object]
    staged: list[Checkpoint] = field(default_factory=list)

    def take_checkpoint(self) -> list[Checkpoint]:
        out, self.staged = self.staged, []
        return out

    def dirty_size(self) -> int:
        return 0


class Sink:
    exactly_once = False
    timeout_s = 1.0

    def __init__(self, lost: set[TopicPartition] | None = None) -> None:
        self.lost = lost or set()

    def take_pending(self) -> list[Any]:
        return []

    async def checkpoint(self, cps: list[Checkpoint], pending: list[Any]) -> set[TopicPartition]:
        return {cp.tp for cp in cps if cp.tp in self.lost}


def checkpoints(consumer: Consumer, shell: Shell, sink: Sink | None = None) -> Checkpoints:
    cps = Checkpoints("in", shell, sink or Sink(), 0.0, lambda: None)  # type: ignore[arg-type]
    cps.consumer = consumer
    return cps


def cp(tp: TopicPartition, position: int) -> Checkpoint:
    return Checkpoint(tp, [(b"k", b"v")], [], position)


def test_a_refused_commit_is_made_at_the_next_checkpoint_with_nothing_new() -> None:
    consumer = Consumer({TP0, TP1}, refuse=1)
    shell = Shell({TP0: object(), TP1: object()}, [cp(TP0, 10), cp(TP1, 7)])
    c = checkpoints(consumer, shell)
    asyncio.run(c.now())
    assert consumer.offsets == {}  # refused: a rebalance was in progress
    assert c.uncommitted() == {TP0: 10, TP1: 7}
    asyncio.run(c.now())  # nothing changed since
    assert consumer.offsets == {TP0: 10, TP1: 7}
    assert c.uncommitted() == {}


def test_only_what_changed_is_committed_again() -> None:
    consumer = Consumer({TP0, TP1})
    shell = Shell({TP0: object(), TP1: object()}, [cp(TP0, 10), cp(TP1, 7)])
    c = checkpoints(consumer, shell)
    asyncio.run(c.now())
    commits: list[dict[TopicPartition, int]] = []
    original = consumer.commit

    async def counted(offsets: dict[TopicPartition, int]) -> None:
        commits.append(dict(offsets))
        await original(offsets)

    consumer.commit = counted  # type: ignore[method-assign]
    shell.staged = [cp(TP1, 9)]
    asyncio.run(c.now())
    asyncio.run(c.now())
    assert commits == [{TP1: 9}]
    assert consumer.offsets == {TP0: 10, TP1: 9}


def test_a_restored_partition_commits_its_rebuilt_position() -> None:
    consumer = Consumer({TP0}, offsets={TP0: 3})
    c = checkpoints(consumer, Shell({TP0: object()}))
    c.restored(TP0, 12)  # the changelog's position is ahead of the committed offset
    asyncio.run(c.now())
    assert consumer.offsets == {TP0: 12}


def test_lost_dropped_and_unassigned_partitions_are_not_committed() -> None:
    consumer = Consumer({TP0, TP1}, refuse=1)
    shell = Shell({TP0: object(), TP1: object()}, [cp(TP0, 10), cp(TP1, 7)])
    c = checkpoints(consumer, shell, Sink(lost={TP1}))
    asyncio.run(c.now())  # TP1 was fenced by a successor: its position is not ours
    c.forget([TP0])  # TP0 dropped (revoked) before its commit got through
    asyncio.run(c.now())
    assert consumer.offsets == {}
    c.restored(TP1, 4)
    consumer.assigned = {TP0}  # TP1 not assigned right now: not committed, kept for later
    asyncio.run(c.now())
    assert consumer.offsets == {}
    consumer.assigned = {TP0, TP1}
    asyncio.run(c.now())
    assert consumer.offsets == {TP1: 4}
