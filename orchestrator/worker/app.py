"""The Faust app, built from settings in a function (nothing configured at import time)."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import faust
import structlog
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from orchestrator import __version__
from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.codec import encode
from orchestrator.contracts.events import DataWatermark
from orchestrator.core.policy import ORCHESTRATOR_SOURCE, DatasetSpec
from orchestrator.core.timeutil import format_rfc3339_ms, from_ms
from orchestrator.policies import Policies
from orchestrator.settings import Settings
from orchestrator.worker.eventtime import EventTimeShell
from orchestrator.worker.ingest import ArrivalsIngest
from orchestrator.worker.metrics import Metrics
from orchestrator.worker.models import ModelShell, Router
from orchestrator.worker.outputs import Outputs

log = structlog.get_logger("orchestrator.worker")

CHECKPOINT_INTERVAL_S = 0.2
IDLE_CHECK_INTERVAL_S = 1.0
GAUGE_INTERVAL_S = 1.0
GC_GEN0_THRESHOLD = 20_000


def _ts(timestamp: float | None) -> int | None:
    """Faust gives the broker timestamp in seconds; the core and metrics use milliseconds."""
    return int(timestamp * 1000) if timestamp else None


@dataclass
class Runtime:
    """What the agents share; exposed for tests and the HTTP endpoints."""

    app: faust.App
    shell: EventTimeShell
    models: ModelShell
    router: Router
    outputs: Outputs
    metrics: Metrics
    ingest: ArrivalsIngest
    started: bool = False
    broker_ok: bool = True
    assigned_once: bool = False
    ingest_assigned_once: bool = False
    positions: dict[tuple[str, int], int] = field(default_factory=dict)

    def position(self, topic: str, partition: int, offset: int) -> None:
        self.positions[(topic, partition)] = offset + 1

    def readiness(self) -> dict[str, Any]:
        """Ready: topics verified (before start), assignment settled, no partition being
        recovered, broker answering."""
        recovering = sorted(self.shell.recovering) + sorted(self.models.recovering)
        checks = {
            "topics_verified": True,
            "assigned": self.assigned_once
            and self.ingest_assigned_once
            and not self.app.rebalancing,
            "state_recovered": not recovering,
            "broker_reachable": self.broker_ok,
            "ingest_running": self.ingest.failed is None,
        }
        ready = all(checks.values())
        self.metrics.ready.set(1 if ready else 0)
        return {"ready": ready, **checks}

    def update_gauges(self, now_s: float) -> None:
        now_ms = int(now_s * 1000)
        open_: dict[str, int] = {}
        overdue: dict[str, int] = {}
        for engine in self.shell.engines.values():
            for name, windows in engine.datasets.items():
                spec = windows.spec
                open_[name] = open_.get(name, 0) + len(windows.windows)
                due = spec.expected_by_ms
                overdue[name] = overdue.get(name, 0) + sum(
                    1
                    for start, w in windows.windows.items()
                    if due is not None and w.revision == 0 and now_ms > start + spec.window_ms + due
                )
        for name in self.shell.specs:
            self.metrics.windows_open.labels(name).set(open_.get(name, 0))
            self.metrics.windows_overdue.labels(name).set(overdue.get(name, 0))
        for partition, lag in self.ingest.lag().items():
            self.metrics.lag.labels(self.ingest.topic, str(partition)).set(lag)
        consumer = self.app.consumer
        try:
            assigned = consumer.assignment()
        except Exception:  # consumer not started yet
            assigned = set()
        for tp in assigned:
            position = self.positions.get((tp.topic, tp.partition))
            high = consumer.highwater(tp)
            if position is not None and high is not None:
                self.metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, high - position))
        self.readiness()

    async def ping_broker(self) -> None:
        """Reachable if any bootstrap address accepts a connection within 2 s."""
        ok = False
        for address in self.outputs.bootstrap.split(","):
            host, _, port = address.strip().rpartition(":")
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 2.0)
            except (OSError, TimeoutError, ValueError):
                continue
            writer.close()
            ok = True
            break
        self.broker_ok = ok


def idle_watermarks(
    specs: dict[str, DatasetSpec], last_seen: dict[str, float], now_s: float
) -> list[DataWatermark]:
    """data.watermark events for datasets idle longer than their idle_timeout (wall clock in)."""
    out = []
    for name, seen in sorted(last_seen.items()):
        spec = specs.get(name)
        if spec is None or spec.idle_timeout_ms is None:
            continue
        if (now_s - seen) * 1000 >= spec.idle_timeout_ms:
            wm_ms = int(now_s * 1000) - spec.out_of_orderness_ms
            out.append(
                DataWatermark(
                    event_id=f"idle:{name}:{format_rfc3339_ms(wm_ms)}",
                    dataset=name,
                    source=ORCHESTRATOR_SOURCE,
                    watermark=from_ms(wm_ms),
                )
            )
    return out


def build_app(
    settings: Settings,
    bootstrap: str,
    catalog: Catalog,
    policies: Policies,
    keys: dict[str, bytes],
    *,
    idempotent: bool,
) -> Runtime:
    arrivals_spec = catalog.specs["arrivals"]
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        autodiscover=False,
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        topic_allow_declare=False,
        topic_disable_leader=True,
        topic_partitions=arrivals_spec.partitions,
        broker_commit_every=1000,
        # Detect a killed worker within seconds, not a minute, so its partitions move quickly.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        broker_rebalance_timeout=20.0,
        broker_commit_interval=1.0,
        stream_wait_empty=False,
    )
    specs = policies.dataset_specs()
    metrics = Metrics()
    outputs = Outputs(bootstrap, catalog, idempotent, metrics)
    arrivals_topic = catalog.name("arrivals")
    gates = policies.data_gates(arrivals_topic)
    models_by_dataset: dict[str, list[str]] = {}
    for model, mp in sorted(policies.models.items()):
        for ds in mp.datasets:
            models_by_dataset.setdefault(ds, []).append(model)
    shell = EventTimeShell(
        specs,
        catalog,
        outputs,
        bootstrap,
        wall_clock=time.time,
        gates=gates,
        models_by_dataset=models_by_dataset,
        metrics=metrics,
    )
    models = ModelShell(
        {n: p.gate_spec() for n, p in policies.models.items()},
        policies.access.spec(keys),
        __version__,
        catalog,
        outputs,
        bootstrap,
        metrics,
    )
    router = Router(catalog, outputs, metrics)

    def ingest_assigned() -> None:
        runtime.ingest_assigned_once = True

    async def ingest_failed(exc: BaseException) -> None:
        await app.crash(exc)

    ingest = ArrivalsIngest(
        shell,
        bootstrap,
        catalog.name("arrivals"),
        f"{settings.app_id}-eventtime",
        on_assigned=ingest_assigned,
        on_failure=ingest_failed,
    )
    runtime = Runtime(app, shell, models, router, outputs, metrics, ingest)

    def raw_topic(role: str) -> Any:
        spec = catalog.specs[role]
        return app.topic(
            spec.name,
            key_serializer="raw",
            value_serializer="raw",
            partitions=spec.partitions,
            internal=False,
        )

    async def ensure_started() -> None:
        if not runtime.started:
            await outputs.start()
            runtime.started = True

    Handler = Callable[[Any], Awaitable[None]]

    def agent(channel: Any, name: str, handle: Handler) -> None:
        """One Faust agent per input: start outputs, note the position, hand the record over."""

        async def consume(stream: Any) -> None:
            async for event in stream.events():
                await ensure_started()
                msg = event.message
                runtime.position(msg.topic, msg.partition, msg.offset)
                await handle(msg)

        consume.__name__ = consume.__qualname__ = name.replace("-", "_")
        app.agent(channel, name=name)(consume)

    # data.arrivals is not a Faust agent: ArrivalsIngest drives it in batches (see ingest.py).
    agent(
        raw_topic("model_updates"),
        "route-updates",
        lambda m: router.route("model_updates", m.partition, m.offset, m.key, m.value),
    )
    agent(
        raw_topic("commands"),
        "route-commands",
        lambda m: router.route("commands", m.partition, m.offset, m.key, m.value),
    )
    agent(
        raw_topic("model_log"),
        "models",
        lambda m: models.process(m.partition, m.offset, m.key, m.value, _ts(m.timestamp)),
    )

    @app.timer(interval=CHECKPOINT_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def checkpoint() -> None:
        if runtime.started:
            await ingest.checkpoint()
            await models.checkpoint()

    @app.timer(interval=IDLE_CHECK_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def idle_sources() -> None:
        if not runtime.started:
            return
        now = time.time()
        for wm in idle_watermarks(specs, shell.last_seen, now):
            shell.last_seen[wm.dataset] = now
            log.info(
                "idle source watermark", dataset=wm.dataset, watermark=wm.watermark.isoformat()
            )
            await outputs.send("arrivals", wm.dataset.encode(), encode(wm))

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(app: faust.App, assigned: set[Any], **_: Any) -> None:
        runtime.assigned_once = True

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(app: faust.App, revoked: set[Any], **_: Any) -> None:
        if runtime.started:
            await models.checkpoint()
        models.revoke({tp.partition for tp in revoked if tp.topic == catalog.name("model_log")})

    @app.page("/healthz")
    class Healthz(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok"})

    @app.page("/readyz")
    class Readyz(View):
        async def get(self, request: Request) -> Response:
            status = runtime.readiness()
            return self.json(status, status=200 if status["ready"] else 503)

    @app.page("/metrics")
    class MetricsPage(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(
                generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0]
            )

    @app.timer(interval=GAUGE_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def gauges() -> None:
        await runtime.ping_broker()
        try:
            runtime.update_gauges(time.time())
        except Exception as exc:  # a gauge must never stop the timer that keeps readiness true
            log.warning("gauge update failed", error=repr(exc))

    @app.service
    class Lifecycle(faust.Service):
        """Starts the producer and the arrivals ingest with the worker; on stop, the ingest
        checkpoints and leaves its group first, then the model state, then the producer."""

        async def on_started(self) -> None:
            await ensure_started()
            await ingest.start()

        async def on_stop(self) -> None:
            if runtime.started:
                await ingest.stop()
                await models.checkpoint()
                await outputs.stop()

    return runtime


def run_worker(runtime: Runtime, loglevel: str) -> int:
    """Run until SIGTERM/SIGINT; Faust owns the event loop."""
    # Everything built so far (modules, schemas, the app) lives as long as the process: keep it
    # out of the collector's scans, and collect the young generation less often. The hot path
    # allocates many short-lived objects per event; the default gen0 threshold (700) made the
    # collector run every few dozen events.
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)
    worker = faust.Worker(
        runtime.app,
        loglevel=loglevel.upper(),
        quiet=True,
        override_logging=False,
        redirect_stdouts=False,
    )
    worker.execute_from_commandline()
    return 0
