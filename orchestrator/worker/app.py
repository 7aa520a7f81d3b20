"""The worker, built from settings in a function (nothing configured at import time).

A faust-streaming app hosts it: the worker's lifecycle, signals, timers and HTTP endpoints.
The three inputs are driven by our own batched consumers (ingest.py), not by Faust's consumer,
so that each is read `read_committed` and written under the processing guarantee:

- arrivals: `data.arrivals` -> event-time core -> windows, decisions, late, dlq, models.log;
- router: `models.updates` + `commands` -> `models.log` (keyed by model);
- models: `models.log` -> model gates -> decisions, champions, training requests.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import faust
import structlog

from orchestrator import __version__
from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.roles import Role
from orchestrator.kafka.clients import Connection, quietly
from orchestrator.logging import bind_process
from orchestrator.pipeline import collector
from orchestrator.pipeline.build import Logics
from orchestrator.pipeline.recordtime import BrokerTime, ProducerTime, RecordTime
from orchestrator.pipeline.shell import Shell
from orchestrator.policies import Policies
from orchestrator.settings import Settings
from orchestrator.worker.eventtime import EventTimeObserver
from orchestrator.worker.host import faust_app, lifecycle, serve
from orchestrator.worker.idle import IDLE_CHECK_INTERVAL_S, IdleSources
from orchestrator.worker.ingest import Ingest
from orchestrator.worker.metrics import Metrics
from orchestrator.worker.models import ModelObserver, RouterObserver
from orchestrator.worker.retrain_metrics import drift_series
from orchestrator.worker.sink import AtLeastOnceSink, ExactlyOnceSink

log = structlog.get_logger("orchestrator.worker")

#: after a fatal error the process exits at the latest this long after shutdown began
FATAL_EXIT_AFTER_S = 30.0
GAUGE_INTERVAL_S = 1.0
#: a cluster that does not answer a metadata request within this is not answering (readiness
#: goes 503 within it plus GAUGE_INTERVAL_S, well inside the session time-out)
PING_TIMEOUT_S = 2.0


@dataclass
class Runtime:
    """What the worker is made of; exposed for tests and the HTTP endpoints."""

    app: faust.App
    conn: Connection
    metrics: Metrics
    arrivals: Ingest
    router: Ingest
    models: Ingest
    eventtime: EventTimeObserver
    model_observer: ModelObserver
    dataset_names: tuple[str, ...] = ()
    #: actors whose commands this worker cannot verify, and why (not ready while any)
    unverifiable: dict[str, str] = field(default_factory=dict)
    started: bool = False
    broker_ok: bool = True
    #: the client that asks the cluster for metadata once a second (readiness)
    pinger: Any = None

    @property
    def ingests(self) -> tuple[Ingest, Ingest, Ingest]:
        return (self.arrivals, self.router, self.models)

    def readiness(self) -> dict[str, Any]:
        """Ready: topics verified (before start), every input assigned, no partition being
        recovered, no input degraded, broker answering."""
        checks: dict[str, Any] = {
            "topics_verified": True,
            "broker_reachable": self.broker_ok,
            "commands_verifiable": not self.unverifiable,
        }
        if self.unverifiable:
            checks["unverifiable_actors"] = self.unverifiable
        for ingest in self.ingests:
            checks[ingest.name] = ingest.readiness()
        ready = self.broker_ok and not self.unverifiable and all(i.ready for i in self.ingests)
        self.metrics.ready.set(1 if ready else 0)
        return {"ready": ready, **checks}

    def update_gauges(self, now_s: float) -> None:
        now_ms = int(now_s * 1000)
        totals: dict[str, tuple[int, int]] = {}
        for engine in self.arrivals.shell.engines.values():
            for name, (open_, overdue) in engine.window_counts(now_ms).items():
                o, d = totals.get(name, (0, 0))
                totals[name] = (o + open_, d + overdue)
        for name in self.dataset_names:
            open_, overdue = totals.get(name, (0, 0))
            self.metrics.windows_open.labels(name).set(open_)
            self.metrics.windows_overdue.labels(name).set(overdue)
        self.metrics.set_lag(
            {tp: lag for ingest in self.ingests for tp, lag in ingest.lag().items()}
        )
        self.readiness()

    async def start_pinger(self) -> None:
        pinger = self.conn.client(client_id="orchestrator-ping")
        await pinger.bootstrap()
        self.pinger = pinger

    async def stop_pinger(self) -> None:
        pinger, self.pinger = self.pinger, None
        if pinger is not None:
            await quietly(pinger.close())

    async def ping_broker(self) -> None:
        """Answering if the cluster answers a metadata request within PING_TIMEOUT_S: a broker
        that accepts connections but answers nothing (frozen, overloaded) is not."""
        if self.pinger is None:
            return
        try:
            await asyncio.wait_for(self.pinger.fetch_all_metadata(), PING_TIMEOUT_S)
        except (Exception, TimeoutError):
            self.broker_ok = False
            return
        self.broker_ok = True


def record_time_of(settings: Settings) -> RecordTime:
    """How the worker reads record times (setting record_time)."""
    if settings.record_time == "producer":
        return ProducerTime(round(settings.record_time_skew_s * 1000))
    return BrokerTime()


def worker_identity(app_id: str) -> dict[str, str]:
    """What tells two workers' log lines apart: host, process (worker_id) and app id."""
    host = socket.gethostname()
    return {"worker_id": f"{host}:{os.getpid()}", "host": host, "app_id": app_id}


@dataclass(frozen=True)
class Inputs:
    """How the worker's inputs are made: each reads its topics in a consumer group of its own
    and writes through the sink of the processing guarantee."""

    settings: Settings
    conn: Connection
    catalog: Catalog
    metrics: Metrics
    on_fatal: Callable[[BaseException], Awaitable[None]]
    idempotent: bool
    transactions: bool

    def ingest(
        self, name: str, shell: Shell[Any], topics: list[str], state_role: Role | None
    ) -> Ingest:
        settings, catalog = self.settings, self.catalog
        group = f"{settings.app_id}-{name}"
        common: dict[str, Any] = {
            "client_id": f"orchestrator-{name}",
            "request_timeout_ms": settings.kafka_request_timeout_ms,
            "linger_ms": settings.kafka_linger_ms,
            "on_split": self.metrics.checkpoint_splits.inc,
        }
        sink: AtLeastOnceSink | ExactlyOnceSink
        if settings.processing_guarantee == "exactly_once":
            sink = ExactlyOnceSink(
                self.conn, catalog, state_role, app_id=settings.app_id, group_id=group, **common
            )
        else:
            sink = AtLeastOnceSink(
                self.conn,
                catalog,
                state_role,
                idempotent=self.idempotent,
                fence_state=self.transactions,
                app_id=settings.app_id,
                **common,
            )
        return Ingest(
            name,
            shell,
            sink,
            self.conn,
            topics,
            group,
            state_topic=catalog.name(state_role) if state_role else None,
            checkpoint_interval_s=settings.checkpoint_interval_s,
            max_outage_s=settings.max_broker_outage_s,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            on_fatal=self.on_fatal,
            metrics=self.metrics,
            snapshot_interval_s=settings.snapshot_interval_s,
        )


def build_app(
    settings: Settings,
    conn: Connection,
    catalog: Catalog,
    policies: Policies,
    keys: dict[str, bytes],
    *,
    idempotent: bool,
    worker_key: bytes | None = None,
    transactions: bool = False,
) -> Runtime:
    """The worker. `keys` verify commands (an actor without one makes the worker not ready);
    `worker_key` signs its idle-source watermarks (without one it sends none); with
    `transactions` (the broker has them) its state is written by fencing producers under
    at_least_once too (sink.py)."""
    bind_process(**worker_identity(settings.app_id))
    app = faust_app(settings, conn.bootstrap)
    logics = Logics(
        policies, catalog, keys, worker_key, record_time_of(settings), version=__version__
    )
    specs = logics.dataset_specs
    metrics = Metrics(specs, policies.models, drift=drift_series(policies))
    missing = policies.access.missing_keys(keys)
    if missing:
        log.warning(
            "commands of some actors cannot be verified: not ready until their keys are set",
            missing=dict(missing.items()),
        )

    async def fatal(exc: BaseException) -> None:
        # A clean shutdown writes nothing more (the failed input is marked failed) but waits
        # for the other inputs; if it cannot finish, the process goes anyway.
        asyncio.get_running_loop().call_later(FATAL_EXIT_AFTER_S, os._exit, 1)
        await app.crash(exc)

    inputs = Inputs(settings, conn, catalog, metrics, fatal, idempotent, transactions)
    limits = logics.limits
    arrivals_topic = catalog.name("arrivals")
    eventtime = EventTimeObserver(arrivals_topic, metrics, time.time)
    model_observer = ModelObserver(metrics, logics.models.specs)
    runtime = Runtime(
        app,
        conn,
        metrics,
        # The arrivals group keeps its historical name, so that an upgraded worker resumes it.
        inputs.ingest(
            "eventtime",
            Shell("eventtime", logics.eventtime, observer=eventtime, limits=limits),
            [arrivals_topic],
            "eventtime_state",
        ),
        inputs.ingest(
            "router",
            Shell("router", logics.router, observer=RouterObserver(metrics), limits=limits),
            [catalog.name("model_updates"), catalog.name("commands")],
            None,
        ),
        inputs.ingest(
            "models",
            Shell("models", logics.models, observer=model_observer, limits=limits),
            [catalog.name("model_log")],
            "model_state",
        ),
        eventtime,
        model_observer,
        tuple(sorted(specs)),
        {a: f"no key ({where})" for a, where in missing.items()},
    )
    idle = IdleSources(conn, arrivals_topic, specs, eventtime, worker_key)

    @app.timer(interval=IDLE_CHECK_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def idle_sources() -> None:
        if runtime.started:
            await idle.tick()

    @app.timer(interval=GAUGE_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def gauges() -> None:
        await runtime.ping_broker()
        try:
            runtime.update_gauges(time.time())
        except Exception as exc:  # a gauge must never stop the timer that keeps readiness true
            log.warning("gauge update failed", error=repr(exc))

    async def start() -> None:
        """The inputs start with the worker."""
        await idle.start()
        await runtime.start_pinger()
        for i in runtime.ingests:
            await i.start()
        runtime.started = True

    async def stop() -> None:
        """On stop each input checkpoints and leaves its group."""
        if runtime.started:
            for i in runtime.ingests:
                await i.stop()
            await idle.stop()
            await runtime.stop_pinger()

    serve(app, runtime.readiness, metrics.registry)
    lifecycle(app, start, stop)
    return runtime


def run_worker(runtime: Runtime, loglevel: str) -> int:
    """Run until SIGTERM/SIGINT; Faust owns the event loop."""
    collector.tune()  # everything built so far lives as long as the process
    worker = faust.Worker(
        runtime.app,
        loglevel=loglevel.upper(),
        quiet=True,
        override_logging=False,
        redirect_stdouts=False,
    )
    # Faust's start-up spinner writes terminal control bytes (\b, ESC[?25h) to stderr even
    # when it is not a terminal; our log lines say what the worker does instead.
    worker.spinner = None
    worker.execute_from_commandline()
    return 0
