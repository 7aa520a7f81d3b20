"""The idle-source job: when no event of a dataset arrived for its `idle_timeout` (wall clock),
the worker appends a `data.watermark` event of the `orchestrator` source, signed with its key,
to `data.arrivals` (SPEC §3): wall-clock time enters decisions only as events in the log."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import structlog

from orchestrator.contracts.codec import encode
from orchestrator.core.idle import idle_watermarks
from orchestrator.core.policy import DatasetSpec
from orchestrator.kafka.clients import Connection, quietly
from orchestrator.worker.eventtime import EventTimeObserver

log = structlog.get_logger("orchestrator.worker")

#: how often the datasets are checked for idleness
IDLE_CHECK_INTERVAL_S = 1.0


class IdleSources:
    """Sends the idle-source watermarks that are due, once a second (`tick`)."""

    def __init__(
        self,
        conn: Connection,
        topic: str,
        specs: Mapping[str, DatasetSpec],
        seen: EventTimeObserver,
        worker_key: bytes | None,
    ) -> None:
        self.conn = conn
        self.topic = topic
        self.specs = dict(specs)
        #: the wall clock of the last event seen per dataset (kept by the arrivals' observer)
        self.seen = seen
        self.worker_key = worker_key
        self.producer: Any = None
        idle = sorted(n for n, s in self.specs.items() if s.idle_timeout_ms is not None)
        if idle and worker_key is None:
            log.warning(
                "idle_timeout needs a worker key (worker_key_file): no idle-source watermarks",
                datasets=idle,
            )

    async def start(self) -> None:
        producer = self.conn.producer(acks="all", client_id="orchestrator-idle")
        await producer.start()
        self.producer = producer

    async def stop(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            await quietly(producer.stop())

    async def tick(self) -> None:
        if self.producer is None or self.worker_key is None:
            return
        now = time.time()
        last_seen = self.seen.last_seen
        for wm in idle_watermarks(self.specs, last_seen, now, self.worker_key):
            last_seen[wm.dataset] = now
            log.info(
                "idle source watermark", dataset=wm.dataset, watermark=wm.watermark.isoformat()
            )
            try:
                await self.producer.send_and_wait(self.topic, encode(wm), key=wm.dataset.encode())
            except Exception as exc:  # the broker is away: the next check tries again
                log.warning("idle watermark not sent", dataset=wm.dataset, error=repr(exc))
