"""Reading topics directly (assign + seek, no consumer group): recovery, demo, replay, tests.

Every reader is `read_committed` (see `Connection.consumer`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import NamedTuple

from aiokafka import TopicPartition

from orchestrator.kafka.clients import Connection

Record = tuple[int, bytes | None, bytes | None]  # (offset, key, value)


class TimedRecord(NamedTuple):
    """A record of one partition as a reader sees it."""

    offset: int
    key: bytes | None
    value: bytes | None
    #: ms; -1 when the record carries none
    timestamp: int
    #: who set it: 1 the broker (LogAppendTime), 0 the sender (CreateTime)
    timestamp_type: int = 1


async def read_range(
    conn: Connection, topic: str, partition: int, start: int, end: int | None, *, idle_ms: int = 300
) -> list[Record]:
    """Records of one partition with start <= offset < end (see read_timed)."""
    return [
        (r.offset, r.key, r.value)
        for r in await read_timed(conn, topic, partition, start, end, idle_ms=idle_ms)
    ]


#: how long a reader's fetch waits at the broker for records that are not there yet, in ms
END_WAIT_MS = 50
#: the most a reader fetches from a partition at once: what a chunk can hold in bytes (audit
#: records are ~3 KB: 5000 of them were 15 MB, four read ahead were replay's peak memory)
FETCH_BYTES = 2 * 1024 * 1024


async def read_timed(
    conn: Connection, topic: str, partition: int, start: int, end: int | None, *, idle_ms: int = 300
) -> list[TimedRecord]:
    """Records of one partition with start <= offset < end; end None: until the partition is
    drained (at the reported end offset a short poll brings nothing, and the end offset asked
    again is no further).

    The reported end offset is only a lower bound: the embedded broker under-reports it after
    produce requests that span several partitions. Under read_committed, offsets taken by
    transaction markers and aborted records are skipped: the position, not the last record,
    says how far the partition was read.
    """
    out: list[TimedRecord] = []
    async for chunk in stream_timed(conn, topic, partition, start, end, idle_ms=idle_ms):
        out += chunk
    return out


async def stream_timed(
    conn: Connection,
    topic: str,
    partition: int,
    start: int,
    end: int | None,
    *,
    chunk: int = 5000,
    idle_ms: int = 300,
) -> AsyncGenerator[list[TimedRecord], None]:
    """The records of `read_timed`, in chunks of at most `chunk` records, so that a reader holds
    one chunk at a time however long the partition is.

    The broker holds a fetch that finds nothing new for at most END_WAIT_MS (not the client's
    default 500 ms): at a partition's end, the end offset asked again would otherwise queue
    behind that fetch on the connection, and every partition read would cost half a second."""
    consumer = conn.consumer(
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
        max_poll_records=chunk,
        max_partition_fetch_bytes=FETCH_BYTES,
        fetch_max_wait_ms=END_WAIT_MS,
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        high = (await consumer.end_offsets([tp]))[tp]
        if end is not None and start >= end:
            return
        consumer.seek(tp, start)
        position = start
        while True:
            # near the end a short poll: the end offset is re-read before concluding
            wait = idle_ms if position < high else min(idle_ms, END_WAIT_MS)
            batch = await consumer.getmany(tp, timeout_ms=wait, max_records=chunk)
            records = batch.get(tp, [])
            out = [
                TimedRecord(r.offset, r.key, r.value, r.timestamp, r.timestamp_type)
                for r in records
                if end is None or r.offset < end
            ]
            if out:
                yield out
            position = await consumer.position(tp)
            if end is not None and (position >= end or len(out) < len(records)):
                return
            if not records and position >= high:
                # the embedded broker may under-report the end offset: ask again (an `end`
                # beyond the partition's last record ends here too, not in a wait for ever)
                high = (await consumer.end_offsets([tp]))[tp]
                if position >= high:
                    return
    finally:
        await consumer.stop()


async def end_offsets(conn: Connection, topic: str) -> dict[int, int]:
    """Partition -> its end offset (the next offset to be written)."""
    consumer = conn.consumer(enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        parts = await partitions_of(conn, topic)
        tps = [TopicPartition(topic, p) for p in parts]
        return {tp.partition: o for tp, o in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()


async def partitions_of(conn: Connection, topic: str) -> list[int]:
    client = conn.client(client_id="orchestrator-reader")
    await client.bootstrap()
    try:
        await client._wait_on_metadata(topic)
        return sorted(client.cluster.partitions_for_topic(topic) or [])
    finally:
        await client.close()


async def read_topic(conn: Connection, topic: str) -> list[tuple[int, Record]]:
    """Every record of every partition, as (partition, record), partition by partition."""
    out: list[tuple[int, Record]] = []
    for p in await partitions_of(conn, topic):
        out.extend((p, r) for r in await read_range(conn, topic, p, 0, None))
    return out
