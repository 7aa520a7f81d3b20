"""`orchestrator mlflow sync`: the MLflow registry bridge's verb (needs the `[mlflow]` extra)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import threading
from typing import Any

from orchestrator.cli_args import EXIT_CONFIG, EXIT_INVALID, EXIT_OK, add_verb, err
from orchestrator.errors import ConfigError, ConfigProblem
from orchestrator.settings import Settings

INSTALL_HINT = "pip install -e '.[mlflow]' in the repository (the package is not on PyPI)"
NO_TRACKING_URI = "no MLflow tracking server: pass --tracking-uri URI or set MLFLOW_TRACKING_URI"


def register(
    verbs: argparse._SubParsersAction,  # type: ignore[type-arg]
    groups: dict[str, argparse.ArgumentParser],
) -> None:
    """Add `mlflow sync` to the parser."""
    mlflow = add_verb(
        verbs,
        groups,
        "mlflow",
        "bridge an MLflow model registry (needs the [mlflow] extra)",
        "  orchestrator mlflow sync --tracking-uri http://mlflow:5000",
    )
    actions = mlflow.add_subparsers(dest="mlflow_verb", required=True, metavar="ACTION")
    sync = add_verb(
        actions,
        groups,
        "sync",
        "publish new registered model versions as model.update events, and point the MLflow "
        "aliases champion and challenger where models.champions says",
        "  orchestrator mlflow sync --tracking-uri http://mlflow:5000        # one pass\n"
        "  orchestrator mlflow sync --model churn --interval 30            # a pass every 30 s\n"
        "  orchestrator mlflow sync --only aliases     # tracking server from MLFLOW_TRACKING_URI",
        ("settings", "broker", "topics", "gates"),
    )
    sync.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="the MLflow tracking server (default env MLFLOW_TRACKING_URI)",
    )
    sync.add_argument(
        "--model",
        action="append",
        metavar="NAME",
        help="a registered model to bridge, which needs a model policy in --gates; repeatable "
        "(default: every model with a policy)",
    )
    sync.add_argument(
        "--only",
        choices=["updates", "aliases"],
        help="one way only: updates (MLflow versions -> model.update) or aliases "
        "(models.champions -> MLflow aliases); default both",
    )
    sync.add_argument(
        "--interval",
        type=float,
        metavar="SECONDS",
        help="run a pass every SECONDS until Ctrl-C or SIGTERM (default: one pass)",
    )
    sync.set_defaults(func=cmd_mlflow_sync)


def _models(settings: Settings, named: list[str] | None) -> list[str]:
    """The models to bridge: those named, each of which needs a policy, or every policy's."""
    from orchestrator.policies import Policies

    policies = Policies.load(settings.gates_dir)
    if not named:
        return sorted(policies.models)
    unknown = [m for m in named if m not in policies.models]
    if unknown:
        raise ConfigError.of(
            ConfigProblem(
                "(command line)",
                "--model",
                f"{m!r} has no model policy in {settings.gates_dir}/models (the worker would "
                "refuse its updates): add one, or name one of "
                f"{', '.join(sorted(policies.models)) or 'none'}",
            )
            for m in unknown
        )
    return list(dict.fromkeys(named))


def cmd_mlflow_sync(settings: Settings, args: argparse.Namespace) -> int:
    try:
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
    except ImportError:
        err(f"`orchestrator mlflow` needs the MLflow client: {INSTALL_HINT}")
        return EXIT_CONFIG
    import logging

    from requests.exceptions import RequestException

    from orchestrator.catalog.topics import Catalog
    from orchestrator.kafka.connect import broker_session
    from orchestrator.mlflow_bridge.sync import Bridge, download_digest

    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        err(NO_TRACKING_URI)
        return EXIT_CONFIG
    if args.interval is not None and args.interval <= 0:
        err("orchestrator mlflow sync: --interval: a number of seconds above 0")
        return EXIT_CONFIG
    # an unreachable server is said in seconds, not after MLflow's minutes of retries
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # each retry is not news
    models = _models(settings, args.model)
    catalog = Catalog.load(settings.topics_dir)
    stop = threading.Event()
    if args.interval is not None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    told: set[str] = set()
    code = EXIT_OK
    try:
        with broker_session(settings) as broker:
            bridge = Bridge(
                MlflowClient(uri), settings, broker.conn, catalog, models, download_digest(uri)
            )
            while True:
                report = asyncio.run(
                    bridge.sync(updates=args.only != "aliases", aliases=args.only != "updates")
                )
                told = _print(report, told, loop=args.interval is not None)
                code = EXIT_INVALID if report.skipped else EXIT_OK
                if args.interval is None or stop.wait(args.interval):
                    break
    except (MlflowException, RequestException) as exc:
        err(f"mlflow {uri}: {_explain(exc)}")
        return EXIT_CONFIG
    return code


def _explain(exc: Exception) -> str:
    """An MLflow failure in one line: what went wrong and what to check."""
    message = str(getattr(exc, "message", None) or exc)
    if "Max retries exceeded" in message or "Failed to establish a new connection" in message:
        return (
            "cannot connect: is the tracking server running there? "
            "check --tracking-uri (or MLFLOW_TRACKING_URI)"
        )
    first = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    return first if len(first) <= 300 else first[:297] + "..."


def _print(report: Any, told: set[str], *, loop: bool) -> set[str]:
    """The pass's lines: every publish and alias move; skips, pending versions and notes only
    when new since the previous pass (a loop does not repeat them every interval)."""
    for update in report.published:
        print(f"published {update.model} version {update.version} (event {update.event_id})")
    for move in report.moves:
        print(f"alias {move}")
    lines = [f"skipped {s}" for s in report.skipped]
    lines += [f"pending {p}" for p in report.pending]
    lines += [f"note {n}" for n in report.notes]
    for line in lines:
        if line not in told:
            print(line)
    if not loop or report.published or report.moves or set(lines) - told:
        print(report.summary(), flush=True)
    return set(lines)
