"""Reading topics directly (assign + seek, no consumer group): recovery, demo, replay, tests.

Every reader is `read_committed` (see `Connection.consumer`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from aiokafka import TopicPartition

from orchestrator.kafka.clients import Connection

Record = tuple[int, bytes | None, bytes | None]  # (offset, key, value)
TimedRecord = tuple[int, bytes | None, bytes | None, int]  # (offset, key, value, timestamp ms)


async def read_range(
    conn: Connection, topic: str, partition: int, start: int, end: int | None, *, idle_ms: int = 300
) -> list[Record]:
    """Records of one partition with start <= offset < end (see read_timed)."""
    return [
        (o, k, v)
        for o, k, v, _ in await read_timed(conn, topic, partition, start, end, idle_ms=idle_ms)
    ]


async def read_timed(
    conn: Connection, topic: str, partition: int, start: int, end: int | None, *, idle_ms: int = 300
) -> list[TimedRecord]:
    """Records of one partition with start <= offset < end; end None: until the partition is
    drained (past the reported end offset and one poll of `idle_ms` brings nothing).

    The reported end offset is only a lower bound: the embedded broker under-reports it after
    produce requests that span several partitions. Under read_committed, offsets taken by
    transaction markers and aborted records are skipped: the position, not the last record,
    says how far the partition was read.
    """
    consumer = conn.consumer(enable_auto_commit=False, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    out: list[TimedRecord] = []
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        high = (await consumer.end_offsets([tp]))[tp]
        if end is not None and start >= end:
            return out
        consumer.seek(tp, start)
        while True:
            batch = await consumer.getmany(tp, timeout_ms=idle_ms)
            records = batch.get(tp, [])
            for record in records:
                if end is not None and record.offset >= end:
                    return out
                out.append((record.offset, record.key, record.value, record.timestamp))
            position = await consumer.position(tp)
            if end is not None and position >= end:
                return out
            if end is None and not records and position >= high:
                return out
    finally:
        await consumer.stop()


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
    one chunk at a time however long the partition is."""
    consumer = conn.consumer(
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
        max_poll_records=chunk,
        max_partition_fetch_bytes=8 * 1024 * 1024,
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
            wait = idle_ms if position < high else min(idle_ms, 50)
            batch = await consumer.getmany(tp, timeout_ms=wait, max_records=chunk)
            records = batch.get(tp, [])
            out = [
                (r.offset, r.key, r.value, r.timestamp)
                for r in records
                if end is None or r.offset < end
            ]
            if out:
                yield out
            position = await consumer.position(tp)
            if end is not None and (position >= end or len(out) < len(records)):
                return
            if end is None and not records and position >= high:
                # the embedded broker may under-report the end offset: ask again
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
