"""Faust hosts the worker: the app (no Kafka client of its own), its data directory, the HTTP
endpoints (/healthz, /readyz, /metrics) and the service that starts and stops the jobs."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import faust
from faust.app.base import BootStrategy
from faust.web import Request, Response, View
from faust.web.base import BlueprintManager
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from orchestrator.errors import ConfigError
from orchestrator.settings import Settings


class HostOnly(BootStrategy):
    """Faust hosts the worker (services, timers, web) but runs no Kafka client of its own."""

    enable_kafka = False
    enable_kafka_consumer = False
    enable_kafka_producer = False


def faust_datadir(settings: Settings) -> Path:
    """The worker's data directory (`data_dir`), created if needed. The default is per user: a
    directory in the shared temp dir made by another user is not writable by this one."""
    base = settings.data_dir or Path(tempfile.gettempdir()) / f"orchestrator-{os.getuid()}"
    path = base / f"{settings.app_id}-data"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            "settings",
            "data_dir",
            f"cannot create the worker's data directory {path} ({exc.strerror}): "
            "set data_dir (ORCHESTRATOR_DATA_DIR) to a directory the worker's user can write",
        ) from None
    return path


def faust_app(settings: Settings, bootstrap: str) -> faust.App:
    """The app that hosts the worker: our endpoints only, none of Faust's built-in views."""
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        # Faust makes an (unused) data directory: not in the user's working directory
        datadir=str(faust_datadir(settings)),
        autodiscover=False,
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        # only our endpoints: /metrics, /healthz, /readyz
        web_router_enabled=False,
        web_tables_enabled=False,
        web_stats_enabled=False,
        web_graph_enabled=False,
        web_metrics_enabled=False,
    )
    app.boot_strategy = HostOnly(app)
    # only our endpoints: none of Faust's built-in views (its index page at / included)
    app.web.blueprints = BlueprintManager([])
    return app


def serve(
    app: faust.App, readiness: Callable[[], dict[str, Any]], registry: CollectorRegistry
) -> None:
    """/healthz (the process answers), /readyz (`readiness()`, 503 unless its `ready`),
    /metrics (`registry` in Prometheus' text format)."""

    @app.page("/healthz")
    class Healthz(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok"})

    @app.page("/readyz")
    class Readyz(View):
        async def get(self, request: Request) -> Response:
            status = readiness()
            return self.json(status, status=200 if status["ready"] else 503)

    @app.page("/metrics")
    class MetricsPage(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(
                generate_latest(registry),
                content_type=CONTENT_TYPE_LATEST.split(";")[0],
            )


def lifecycle(
    app: faust.App,
    start: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
) -> None:
    """`start` once the worker has started; `stop` when it stops."""

    @app.service
    class Lifecycle(faust.Service):
        async def on_started(self) -> None:
            await start()

        async def on_stop(self) -> None:
            await stop()
