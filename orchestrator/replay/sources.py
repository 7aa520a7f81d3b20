"""Where replay reads records from, a chunk at a time: Kafka (assign + seek, no consumer group),
or memory (tests). A chunk is a list of `TimedRecord`; a reader holds one chunk at a time, so
memory does not grow with the length of a partition."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Protocol

from orchestrator.kafka.clients import Connection
from orchestrator.kafka.read import TimedRecord, partitions_of, stream_timed

CHUNK = 5000


class Source(Protocol):
    def partitions(self, topic: str) -> list[int]: ...

    def chunks(self, topic: str, partition: int, start: int = 0) -> Iterator[list[TimedRecord]]: ...


class MemorySource:
    """Partitions held in memory: {topic: {partition: records}}."""

    def __init__(
        self, topics: Mapping[str, Mapping[int, list[TimedRecord]]], chunk: int = CHUNK
    ) -> None:
        self.topics = topics
        self.chunk = chunk

    def partitions(self, topic: str) -> list[int]:
        return sorted(self.topics.get(topic, {}))

    def chunks(self, topic: str, partition: int, start: int = 0) -> Iterator[list[TimedRecord]]:
        records = [r for r in self.topics.get(topic, {}).get(partition, []) if r[0] >= start]
        for i in range(0, len(records), self.chunk):
            yield records[i : i + self.chunk]


class KafkaSource:
    """Partitions read from the broker, each until it is drained. Reads run on an event loop
    of their own, so that replay can fork workers (which read their own partitions) from a
    process with no loop running."""

    def __init__(self, conn: Connection, chunk: int = CHUNK) -> None:
        self.conn = conn
        self.chunk = chunk

    def partitions(self, topic: str) -> list[int]:
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(partitions_of(self.conn, topic))
        finally:
            loop.close()

    def chunks(self, topic: str, partition: int, start: int = 0) -> Iterator[list[TimedRecord]]:
        loop = asyncio.new_event_loop()
        stream = stream_timed(self.conn, topic, partition, start, None, chunk=self.chunk)
        try:
            while True:
                try:
                    yield loop.run_until_complete(anext(stream))
                except StopAsyncIteration:
                    return
        finally:
            loop.run_until_complete(stream.aclose())
            loop.close()
