"""The Faust app, built from settings in a function (nothing configured at import time)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import faust
import structlog
from faust.web import Request, Response, View

from orchestrator import __version__
from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.codec import encode
from orchestrator.contracts.events import DataWatermark
from orchestrator.core.datagate import DataGate
from orchestrator.core.policy import ORCHESTRATOR_SOURCE, DatasetSpec
from orchestrator.core.timeutil import format_rfc3339_ms, from_ms
from orchestrator.policies import DatasetPolicy, Policies
from orchestrator.settings import Settings
from orchestrator.worker.eventtime import Counters, EventTimeShell
from orchestrator.worker.models import ModelShell, Router
from orchestrator.worker.outputs import Outputs

log = structlog.get_logger("orchestrator.worker")

CHECKPOINT_INTERVAL_S = 0.2
IDLE_CHECK_INTERVAL_S = 1.0


@dataclass
class Runtime:
    """What the agents share; exposed for tests and the HTTP endpoints."""

    app: faust.App
    shell: EventTimeShell
    models: ModelShell
    router: Router
    outputs: Outputs
    counters: Counters
    started: bool = False


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


def _gate_factory(policy: DatasetPolicy, arrivals_topic: str) -> Callable[[], DataGate]:
    spec = policy.gate_spec()
    return lambda: DataGate(spec, arrivals_topic, __version__)


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
    outputs = Outputs(bootstrap, catalog, idempotent)
    counters = Counters()
    arrivals_topic = catalog.name("arrivals")
    gates = {name: _gate_factory(p, arrivals_topic) for name, p in policies.datasets.items()}
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
        counters=counters,
    )
    models = ModelShell(
        {n: p.gate_spec() for n, p in policies.models.items()},
        policies.access.spec(keys),
        __version__,
        catalog,
        outputs,
        bootstrap,
        counters,
    )
    router = Router(catalog, outputs, counters)
    runtime = Runtime(app, shell, models, router, outputs, counters)

    def raw_topic(role: str) -> Any:
        spec = catalog.specs[role]
        return app.topic(
            spec.name,
            key_serializer="raw",
            value_serializer="raw",
            partitions=spec.partitions,
            internal=False,
        )

    arrivals = raw_topic("arrivals")

    async def ensure_started() -> None:
        if not runtime.started:
            await outputs.start()
            runtime.started = True

    @app.agent(arrivals, name="eventtime")
    async def eventtime(stream: Any) -> None:
        async for event in stream.events():
            await ensure_started()
            msg = event.message
            await shell.process(msg.partition, msg.offset, msg.key, msg.value)

    @app.agent(raw_topic("model_updates"), name="route-updates")
    async def route_updates(stream: Any) -> None:
        async for event in stream.events():
            await ensure_started()
            msg = event.message
            await router.route("model_updates", msg.partition, msg.offset, msg.key, msg.value)

    @app.agent(raw_topic("commands"), name="route-commands")
    async def route_commands(stream: Any) -> None:
        async for event in stream.events():
            await ensure_started()
            msg = event.message
            await router.route("commands", msg.partition, msg.offset, msg.key, msg.value)

    @app.agent(raw_topic("model_log"), name="models")
    async def model_gate(stream: Any) -> None:
        async for event in stream.events():
            await ensure_started()
            msg = event.message
            await models.process(msg.partition, msg.offset, msg.key, msg.value)

    @app.timer(interval=CHECKPOINT_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def checkpoint() -> None:
        if runtime.started:
            await shell.checkpoint()
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

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(app: faust.App, revoked: set[Any], **_: Any) -> None:
        if runtime.started:
            await shell.checkpoint()
            await models.checkpoint()
        shell.revoke({tp.partition for tp in revoked if tp.topic == catalog.name("arrivals")})
        models.revoke({tp.partition for tp in revoked if tp.topic == catalog.name("model_log")})

    @app.page("/healthz")
    class Healthz(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok"})

    @app.page("/readyz")
    class Readyz(View):
        async def get(self, request: Request) -> Response:
            ready = app.rebalancing is False and runtime.app.consumer is not None
            return self.json({"ready": bool(ready)}, status=200 if ready else 503)

    @app.service
    class Shutdown(faust.Service):
        async def on_stop(self) -> None:
            if runtime.started:
                await shell.checkpoint()
                await models.checkpoint()
                await outputs.stop()

    return runtime


def run_worker(runtime: Runtime, loglevel: str) -> int:
    """Run until SIGTERM/SIGINT; Faust owns the event loop."""
    worker = faust.Worker(
        runtime.app,
        loglevel=loglevel.upper(),
        quiet=True,
        override_logging=False,
        redirect_stdouts=False,
    )
    worker.execute_from_commandline()
    return 0
