"""The fault tests run on an Apache Kafka of their own, which they kill and restart."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.catalog.topics import Catalog
from orchestrator.kafka.clients import Connection
from orchestrator.policies import Policies
from tests.chaos.harness import STARTED, Broker
from tests.chaos.workload import KEYS, write_gates
from tests.conftest import make_catalog, run_cli

#: `make chaos` sets CHAOS_FULL=1: >= 100k events and >= 10 kills; CI runs the small version.
FULL = os.environ.get("CHAOS_FULL") == "1"


@pytest.fixture(autouse=True)
def no_worker_left_behind() -> Iterator[None]:
    """A failing case leaves no worker running (it would load the machine for the next)."""
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def chaos_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    broker = Broker(tmp_path_factory.mktemp("chaos-kafka"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@dataclass
class Setup:
    broker: Broker
    topics: Path
    gates: Path
    catalog: Catalog
    policies: Policies
    app_id: str
    tmp: Path

    @property
    def conn(self) -> Connection:
        return Connection(self.broker.bootstrap)

    keys = KEYS


@pytest.fixture
def setup(chaos_broker: Broker, tmp_path: Path) -> Setup:
    """Fresh topics (3 partitions) and the workload's policies on the chaos broker."""
    if not _alive(chaos_broker):
        chaos_broker.start()  # a previous case left it down
    prefix = f"x{uuid.uuid4().hex[:8]}"
    topics = make_catalog(tmp_path / "topics", prefix, partitions=3)
    gates = write_gates(tmp_path / "gates", datasets=6, models=2)
    out = run_cli("topics", "apply", "--broker", chaos_broker.bootstrap, "--topics", str(topics))
    assert out.returncode == 0, out.stderr
    return Setup(
        chaos_broker, topics, gates, Catalog.load(topics), Policies.load(gates), prefix, tmp_path
    )


def _alive(broker: Broker) -> bool:
    try:
        os.kill(broker.pid, 0)
    except (OSError, ValueError):
        return False
    return True
