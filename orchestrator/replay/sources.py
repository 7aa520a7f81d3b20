"""Where replay reads records from, a chunk at a time: Kafka (assign + seek, no consumer group),
or memory (tests). A chunk is a list of `TimedRecord`; a reader holds one chunk at a time, so
memory does not grow with the length of a partition."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator, Mapping
from typing import Protocol

from orchestrator.kafka.clients import Connection
from orchestrator.kafka.read import TimedRecord, partitions_of, stream_timed

CHUNK = 5000
#: chunks read ahead of the one being derived
PREFETCH = 4


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
    """Partitions read from the broker, each until it is drained. Reads run on an event loop of
    their own, on a thread of their own, so that replay can fork workers (which read their own
    partitions) from a process with no loop running."""

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
        """Read ahead on a thread of its own (at most PREFETCH chunks), so that fetching the
        next chunk overlaps with deriving this one."""
        ahead: queue.Queue[list[TimedRecord] | BaseException | None] = queue.Queue(PREFETCH)
        stop = threading.Event()

        async def read() -> None:
            stream = stream_timed(self.conn, topic, partition, start, None, chunk=self.chunk)
            try:
                async for batch in stream:
                    while not stop.is_set():
                        try:
                            ahead.put(batch, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
            finally:
                await stream.aclose()

        def run() -> None:
            try:
                asyncio.run(read())
                ahead.put(None)
            except BaseException as exc:  # handed to the reader below
                ahead.put(exc)

        thread = threading.Thread(target=run, name=f"read-{topic}-{partition}", daemon=True)
        thread.start()
        try:
            while True:
                item = ahead.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while thread.is_alive():
                try:
                    ahead.get_nowait()
                except queue.Empty:
                    thread.join(0.05)
