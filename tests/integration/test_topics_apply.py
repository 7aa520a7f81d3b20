"""`orchestrator topics apply` against real brokers, run as a user runs it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml
from aiokafka.admin import AIOKafkaAdminClient

from orchestrator.catalog.topics import Catalog
from orchestrator.kafka.admin import describe
from tests.conftest import run_cli


async def _describe(bootstrap: str, names: list[str]) -> dict[str, dict[str, object]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return await describe(admin, names)
    finally:
        await admin.close()


def test_apply_creates_is_idempotent_and_refuses_mismatch(
    kafka_bootstrap: str, topics_dir: Path
) -> None:
    """Creates every topic, verifies them on a second run, and reports a mismatch changing nothing."""
    first = run_cli("topics", "apply", "--broker", kafka_bootstrap, "--topics", str(topics_dir))
    assert first.returncode == 0, first.stderr
    catalog = Catalog.load(topics_dir)
    names = [s.name for s in catalog]
    assert first.stdout.count("created") == len(names)
    actual = asyncio.run(_describe(kafka_bootstrap, names))
    for spec in catalog:
        assert actual[spec.name]["partitions"] == spec.partitions
        configs = actual[spec.name]["configs"]
        assert isinstance(configs, dict)
        assert configs["cleanup.policy"] == spec.cleanup_policy
        assert configs["retention.ms"] == str(spec.retention_ms)

    second = run_cli("topics", "apply", "--broker", kafka_bootstrap, "--topics", str(topics_dir))
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("verified") == len(names) and "created" not in second.stdout

    # Ask for more partitions on one topic and add a brand-new topic file: nothing may change.
    dlq = topics_dir / "dlq.yaml"
    data = yaml.safe_load(dlq.read_text())
    data["partitions"] = data["partitions"] + 2
    dlq.write_text(yaml.safe_dump(data))
    windows = topics_dir / "data.windows.yaml"
    wdata = yaml.safe_load(windows.read_text())
    wdata["name"] = wdata["name"] + ".renamed"
    windows.write_text(yaml.safe_dump(wdata))
    third = run_cli("topics", "apply", "--broker", kafka_bootstrap, "--topics", str(topics_dir))
    assert third.returncode == 1
    assert (
        f"topic {data['name']}: partitions: expected {data['partitions']}, actual {data['partitions'] - 2}"
        in third.stderr
    )
    assert "nothing was changed" in third.stderr
    after = asyncio.run(_describe(kafka_bootstrap, [data["name"], wdata["name"]]))
    assert after[data["name"]]["partitions"] == data["partitions"] - 2
    assert wdata["name"] not in after  # the new topic was not created either


def test_apply_on_embedded(embedded_bootstrap: str, topics_dir: Path) -> None:
    """The embedded broker accepts the catalog and reports it back the same way."""
    first = run_cli("topics", "apply", "--broker", embedded_bootstrap, "--topics", str(topics_dir))
    assert first.returncode == 0, first.stderr
    second = run_cli("topics", "apply", "--broker", embedded_bootstrap, "--topics", str(topics_dir))
    assert second.returncode == 0 and "created" not in second.stdout, second.stdout + second.stderr


def test_invalid_catalog_exit_code(tmp_path: Path, topics_dir: Path) -> None:
    """A bad catalog file is a clear error with file, field and reason, and exit code 2."""
    path = topics_dir / "dlq.yaml"
    path.write_text(path.read_text().replace("partitions: 6", "partitions: -1"))
    out = run_cli("topics", "apply", "--broker", "127.0.0.1:1", "--topics", str(topics_dir))
    assert out.returncode == 2
    assert "dlq.yaml: partitions: Input should be greater than or equal to 1" in out.stderr


def test_worker_refuses_unapplied_topics(kafka_bootstrap: str, topics_dir: Path) -> None:
    """On a real cluster the worker verifies the catalog before consuming: missing topics stop it."""
    out = run_cli(
        "worker",
        "--broker",
        kafka_bootstrap,
        "--topics",
        str(topics_dir),
        "--web-port",
        "0",
        timeout=60,
    )
    assert out.returncode == 1
    assert "missing (run `orchestrator topics apply`)" in out.stderr


def test_replication_and_min_insync_replicas_are_set_per_environment(
    kafka_bootstrap: str, topics_dir: Path
) -> None:
    """`--min-insync-replicas` (or its variable) lands on every topic created; the replication
    given at apply is what is verified afterwards (here one broker: 1 is what exists, so asking
    3 is a mismatch, changing nothing); an impossible pair is refused before the broker."""
    common = ["--broker", kafka_bootstrap, "--topics", str(topics_dir)]
    first = run_cli("topics", "apply", *common, "--replication", "1", "--min-insync-replicas", "1")
    assert first.returncode == 0, first.stderr
    catalog = Catalog.load(topics_dir)
    actual = asyncio.run(_describe(kafka_bootstrap, [s.name for s in catalog]))
    for spec in catalog:
        configs = actual[spec.name]["configs"]
        assert isinstance(configs, dict) and configs["min.insync.replicas"] == "1"
    more = run_cli("topics", "apply", *common, env={"ORCHESTRATOR_TOPIC_REPLICATION": "3"})
    assert more.returncode == 1
    assert f"topic {catalog.name('audit')}: replication: expected 3, actual 1" in more.stderr
    worker = run_cli(
        "worker", *common, "--gates", "gates", env={"ORCHESTRATOR_TOPIC_REPLICATION": "3"}
    )
    assert worker.returncode == 1 and "replication: expected 3, actual 1" in worker.stderr
    impossible = run_cli(
        "topics", "apply", *common, "--replication", "1", "--min-insync-replicas", "2"
    )
    assert impossible.returncode == 2 and len(impossible.stderr.strip().splitlines()) == 1
    assert "(command line): --min-insync-replicas: 2 is more than topic_replication 1" in (
        impossible.stderr
    )


def test_topics_that_appear_while_the_worker_looks_are_found(
    kafka_bootstrap: str, topics_dir: Path
) -> None:
    """A topic just created may not be listed yet (the cluster's metadata reaches each broker
    a moment later: `topics apply` then `worker` at once met it): the worker's verification
    asks again for a while before calling a topic missing."""
    from orchestrator.errors import TopicMismatch
    from orchestrator.kafka.admin import apply_topics, verify_topics
    from orchestrator.kafka.clients import Connection

    catalog = Catalog.load(topics_dir)
    conn = Connection(kafka_bootstrap)

    async def run() -> None:
        try:  # no grace: missing is missing
            await verify_topics(conn, catalog, grace_s=0)
            raise AssertionError("missing topics were not reported")
        except TopicMismatch as exc:
            assert "missing (run `orchestrator topics apply`)" in str(exc)

        async def later() -> None:
            await asyncio.sleep(2)
            await apply_topics(conn, catalog)

        task = asyncio.create_task(later())
        await verify_topics(conn, catalog, grace_s=30)
        await task

    asyncio.run(run())
