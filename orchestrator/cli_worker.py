"""CLI verbs that run the long-lived service."""

from __future__ import annotations

import argparse
import asyncio
import os

from orchestrator.settings import Settings


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from orchestrator.catalog.topics import Catalog
    from orchestrator.kafka.admin import apply_topics
    from orchestrator.kafka.capabilities import producer_idempotence
    from orchestrator.kafka.connect import broker_session
    from orchestrator.policies import Policies
    from orchestrator.worker.app import build_app, run_worker

    # Validate every file before consuming anything.
    catalog = Catalog.load(settings.topics_dir)
    policies = Policies.load(settings.gates_dir)
    with broker_session(settings) as broker:
        if broker.embedded or args.apply_topics:
            asyncio.run(apply_topics(broker.bootstrap, catalog))
        idempotent = asyncio.run(producer_idempotence(settings, broker.bootstrap))
        keys = policies.access.resolve_keys(os.environ, settings.gates_dir)
        runtime = build_app(
            settings, broker.bootstrap, catalog, policies, keys, idempotent=idempotent
        )
        return run_worker(runtime, settings.log_level)


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from orchestrator.demo import run_demo
    from orchestrator.kafka.connect import broker_session

    with broker_session(settings) as broker:
        return run_demo(settings, broker, seed=args.seed, timeout_s=args.timeout)


def register(verbs: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add the service verbs to the parser."""
    worker = verbs.add_parser(
        "worker", help="run the orchestrator service (Faust agents)", parents=[common]
    )
    worker.add_argument("--web-host", help="HTTP bind address (default 127.0.0.1)")
    worker.add_argument(
        "--web-port", type=int, help="HTTP port for /metrics, /healthz, /readyz (default 6066)"
    )
    worker.add_argument(
        "--apply-topics",
        action="store_true",
        help="create missing topics first (always done on the embedded broker)",
    )
    worker.set_defaults(func=cmd_worker)

    demo = verbs.add_parser(
        "demo",
        help="run a seeded simulation end to end and verify it (embedded broker by default)",
        parents=[common],
    )
    demo.add_argument("--seed", type=int, default=7, help="simulation seed (default 7)")
    demo.add_argument(
        "--timeout", type=float, default=90.0, help="seconds to wait for the worker to settle"
    )
    demo.set_defaults(func=cmd_demo)
