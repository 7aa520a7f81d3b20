"""How far behind an input is, per assigned partition: from the position handled to the end a
reader may see. A partition whose last poll brought nothing is caught up to the consumer's
position then (the offsets below it were handled, or were transaction markers)."""

from __future__ import annotations

import contextlib
from typing import Any

from aiokafka import TopicPartition

from orchestrator.pipeline.shell import Shell


class Lag:
    def __init__(self) -> None:
        #: per partition, the consumer's position when a poll last brought it nothing
        self.idle_at: dict[TopicPartition, int] = {}

    def note_idle(self, consumer: Any, batch: dict[TopicPartition, list[Any]]) -> None:
        """After a poll: the position of each assigned partition it brought nothing for."""
        for tp in consumer.assignment():
            if tp not in batch:
                with contextlib.suppress(Exception):  # aiokafka internals: best effort
                    state = consumer._subscription.subscription.assignment.state_value(tp)
                    if state.position is not None:
                        self.idle_at[tp] = state.position

    def forget(self, tp: TopicPartition) -> None:
        self.idle_at.pop(tp, None)

    def of(self, consumer: Any, shell: Shell[Any]) -> dict[TopicPartition, int]:
        """Records not handled yet per assigned partition: from the position handled to the end
        a reader may see (the last stable offset under read_committed, else the high water)."""
        out: dict[TopicPartition, int] = {}
        if consumer is None:
            return out
        for tp in consumer.assignment():
            end = consumer.last_stable_offset(tp)
            if end is None or end < 0:
                end = consumer.highwater(tp)
            position = shell.position(tp)
            if end is not None and position is not None:
                out[tp] = max(0, end - max(position, self.idle_at.get(tp, 0)))
        return out
