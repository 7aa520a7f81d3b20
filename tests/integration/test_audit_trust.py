"""Audit you can trust (SPEC §6), on both brokers: the index reads every partition to its true
end, follows the log under ties, gives the answers a scan of the topics gives, refuses when
the topics changed under it, and replay compares every recorded copy of a decision."""

from __future__ import annotations

import asyncio
import random
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.audit.index import AuditIndex, IndexStale
from orchestrator.audit.queries import champion_at
from orchestrator.audit.scan import ScanTrail
from orchestrator.catalog.topics import Catalog
from orchestrator.core.timeutil import format_rfc3339_ms
from orchestrator.kafka.clients import Connection
from tests.conftest import caught_up, make_catalog, record_time_env, run_cli

T0 = 1_795_435_200_000


async def _send(bootstrap: str, records: list[tuple[str, bytes, bytes, int | None]]) -> None:
    """All in one producer, batched: a produce request spans several partitions (the case
    where the embedded broker's end offsets lag its last records)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50, acks="all")
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=key, partition=partition)
            for topic, key, value, partition in records
        ]
        for f in futures:
            await f
    finally:
        await producer.stop()


def stream(seed: int, model: str) -> tuple[list[dict[str, Any]], list[tuple[int, str | None]]]:
    """A random decision stream of one model, as the model gate would write it: triggers in
    models.log order, many decided in the same millisecond, some triggers promoting two held
    versions in one go (a chain), challengers staged and crowned, denied commands (no change).
    Also the truth: (decided ms, champion after) after each decision, in log order."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    truth: list[tuple[int, str | None]] = []
    champion: str | None = None
    at, trigger, n = T0, 0, 0

    def add(version: str, outcome: str, after: str | None, **extra: Any) -> None:
        nonlocal n, champion
        n += 1
        d: dict[str, Any] = {
            "type": "audit.decision",
            "v": 1,
            "decision_id": f"sha256:{model}-{n:04d}",
            "subject": {"kind": "model_version", "id": f"{model}:{version}"},
            "revision": 1,
            "outcome": outcome,
            "gate": {"name": f"model/{model}", "version": 1, "digest": "sha256:p"},
            "checks": extra.pop("checks", []),
            "inputs": {"event_ids": [version], "digest": "sha256:i", "offsets": []},
            "decided_at": format_rfc3339_ms(at),
            "orchestrator_version": "test",
            "model": model,
            "trigger": {"topic": "models.log", "partition": 0, "offset": trigger},
        }
        if champion is not None:
            d["champion_before"] = champion
        if after is not None:
            d["champion_after"] = after
        champion = after
        out.append(d)
        truth.append((at, champion))

    for step in range(rng.randint(8, 30)):
        trigger += rng.randint(1, 3)
        if rng.random() < 0.5:
            at += rng.choice([0, 0, 1, 7])  # many ties
        kind = rng.random()
        if kind < 0.2:  # one notice promotes two held versions: a chain in one trigger
            add(f"v{step}a", "promote", f"v{step}a")
            add(f"v{step}b", "promote", f"v{step}b")
        elif kind < 0.35:  # a denied command: nothing changes
            add(f"v{step}", "reject", champion)
        elif kind < 0.5:  # staged as challenger (champion unchanged), crowned later
            add(
                f"v{step}",
                "promote",
                champion,
                checks=[{"name": "rollout", "passed": True, "observed": {"stage": "challenger"}}],
            )
        else:
            add(f"v{step}", "promote", f"v{step}")
    return out, truth


def expected(truth: list[tuple[int, str | None]], at: int) -> str | None:
    last = max((i for i, (ms, _) in enumerate(truth) if ms <= at), default=-1)
    return truth[last][1] if last >= 0 else None


@pytest.fixture
def audit_topics(any_bootstrap: str, tmp_path: Path) -> tuple[str, Catalog, Path]:
    tmp = tmp_path
    topics = make_catalog(tmp / "topics", f"au{uuid.uuid4().hex[:8]}", partitions=3)
    assert (
        run_cli("topics", "apply", "--broker", any_bootstrap, "--topics", str(topics)).returncode
        == 0
    )
    return any_bootstrap, Catalog.load(topics), tmp


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 10**6), cut=st.floats(0.1, 0.9))
def test_index_and_scan_answer_like_the_log_under_ties_and_cuts(
    audit_topics: tuple[str, Catalog, Path], seed: int, cut: float
) -> None:
    """A random decision stream of one model (ties, chains in one trigger, staged challengers,
    repeats), its records spread over the audit topic's partitions: the index built at a cut
    point and refreshed after the rest, and a scan of the topics, both say at every instant of
    the stream (and between) what the stream's own state was."""
    bootstrap, catalog, tmp = audit_topics
    # hypothesis runs every example on the same topics (one fixture): a model of its own per
    # example, or a seed drawn twice would find the records of its first draw too
    model = f"m{seed}x{uuid.uuid4().hex[:6]}"
    decisions, truth = stream(seed, model)
    rng = random.Random(seed)
    records = [
        (catalog.name("audit"), d["subject"]["id"].encode(), orjson.dumps(d), rng.randint(0, 2))
        for d in decisions
    ]
    # an at-least-once repeat of some decisions, decided again later
    for d in rng.sample(decisions, k=min(3, len(decisions))):
        again = {**d, "decided_at": format_rfc3339_ms(T0 + 10**8)}
        records.append(
            (
                catalog.name("audit"),
                d["subject"]["id"].encode(),
                orjson.dumps(again),
                rng.randint(0, 2),
            )
        )
    split = int(len(records) * cut)
    index = AuditIndex(tmp / f"{model}.sqlite", catalog)
    try:
        asyncio.run(_send(bootstrap, records[:split]))
        index.update(Connection(bootstrap))
        asyncio.run(_send(bootstrap, records[split:]))
        index.update(Connection(bootstrap))
        scan = ScanTrail(Connection(bootstrap), catalog)
        instants = sorted({ms for ms, _ in truth} | {ms - 1 for ms, _ in truth} | {T0 + 10**9})
        for at in instants:
            want = expected(truth, at)
            assert champion_at(index, model, at).champion == want, (at, want)
            assert champion_at(scan, model, at).champion == want, (at, want)
        held = sum(1 for r in index.model_decisions(model))
        assert held == len(records), "the index holds every record, repeats included"
    finally:
        index.close()


def test_the_index_reads_every_partition_to_its_true_end(
    audit_topics: tuple[str, Catalog, Path],
) -> None:
    """Decisions sent in produce requests that span every partition (where the embedded
    broker's end offsets lag): `audit index` holds every one of them, and a query says the
    offsets it is as of."""
    bootstrap, catalog, tmp = audit_topics
    decisions, _ = stream(424242, "complete")
    records = [
        (catalog.name("audit"), d["subject"]["id"].encode(), orjson.dumps(d), i % 3)
        for i, d in enumerate(decisions)
    ]
    asyncio.run(_send(bootstrap, records))
    index = tmp / "complete.sqlite"
    common = ["--broker", bootstrap, "--topics", str(tmp / "topics"), "--index", str(index)]
    out = run_cli("audit", "index", *common)
    assert out.returncode == 0, out.stderr
    out = run_cli(
        "audit",
        "sql",
        "SELECT count(*) AS n FROM decisions WHERE model = 'complete'",
        "--json",
        "--topics",
        str(tmp / "topics"),
        "--index",
        str(index),
    )
    assert orjson.loads(out.stdout) == [{"n": len(decisions)}]
    out = run_cli("audit", "champion", "complete", "--at", "now", "--json", *common)
    assert out.returncode == 0, out.stderr
    answer = orjson.loads(out.stdout)
    offsets = answer["as_of"]["offsets"][catalog.name("audit")]
    assert set(offsets) == {"0", "1", "2"} and all(o > 0 for o in offsets.values())
    assert "refreshed from the broker" in answer["as_of"]["source"]


def test_a_changed_topic_makes_the_index_refuse_and_rebuild(
    any_bootstrap: str, tmp_path: Path
) -> None:
    """The audit topic deleted and made again with other records (as after a new embedded
    broker): a query from the old index refuses (exit 2, the command to run), `audit index`
    rebuilds it, and the answer is the new topic's."""
    topics = make_catalog(tmp_path / "topics", f"ch{uuid.uuid4().hex[:8]}", partitions=1)
    catalog = Catalog.load(topics)
    common = [
        "--broker",
        any_bootstrap,
        "--topics",
        str(topics),
        "--index",
        str(tmp_path / "i.sqlite"),
    ]
    assert run_cli("topics", "apply", *common[:4]).returncode == 0
    old, _ = stream(1, "churn")
    asyncio.run(
        _send(any_bootstrap, [(catalog.name("audit"), b"k", orjson.dumps(d), 0) for d in old])
    )
    assert run_cli("audit", "index", *common).returncode == 0

    async def recreate() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=any_bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([catalog.name("audit")])
        finally:
            await admin.close()
        await asyncio.sleep(2)

    asyncio.run(recreate())
    assert run_cli("topics", "apply", *common[:4]).returncode == 0
    new, truth = stream(2, "churn")
    asyncio.run(
        _send(any_bootstrap, [(catalog.name("audit"), b"k", orjson.dumps(d), 0) for d in new[:3]])
    )
    refused = run_cli("audit", "champion", "churn", "--at", "now", *common)
    assert refused.returncode == 2 and "audit index --rebuild" in refused.stderr, refused.stderr
    rebuilt = run_cli("audit", "index", *common)
    assert rebuilt.returncode == 0 and "rebuilt" in rebuilt.stdout, rebuilt.stdout + rebuilt.stderr
    out = run_cli("audit", "champion", "churn", "--at", "now", "--json", *common)
    assert out.returncode == 0 and orjson.loads(out.stdout)["champion"] == truth[2][1]


def test_index_stale_is_refused_by_the_api_too(any_bootstrap: str, tmp_path: Path) -> None:
    """The index API refuses to read on when the record it read last is not there any more."""
    topics = make_catalog(tmp_path / "topics", f"st{uuid.uuid4().hex[:8]}", partitions=1)
    catalog = Catalog.load(topics)
    assert (
        run_cli("topics", "apply", "--broker", any_bootstrap, "--topics", str(topics)).returncode
        == 0
    )
    index = AuditIndex(tmp_path / "i.sqlite", catalog)
    try:
        decisions, _ = stream(3, "churn")
        asyncio.run(
            _send(
                any_bootstrap,
                [(catalog.name("audit"), b"k", orjson.dumps(d), 0) for d in decisions],
            )
        )
        index.update(Connection(any_bootstrap))
        index.db.execute("UPDATE positions SET last_digest = 'x' WHERE next_offset > 0")
        with pytest.raises(IndexStale, match="another record"):
            index.update(Connection(any_bootstrap))
    finally:
        index.close()


def test_replay_catches_forged_copies_with_a_genuine_or_a_new_decision_id(
    any_bootstrap: str, tmp_path: Path
) -> None:
    """A worker decides the scenario's windows; then two forged audit records: one reusing a
    genuine decision id with the outcome flipped, one under a new id. Replay says MISMATCH
    (exit 1) and names both subjects; `audit history` shows the forged copy beside the genuine
    one, marked."""
    from orchestrator.testing import wait_for
    from tests import scenario
    from tests.integration.support import make_worker, write_lines

    prefix = f"fg{uuid.uuid4().hex[:8]}"
    topics = make_catalog(tmp_path / "topics", prefix, partitions=2)
    common = ["--broker", any_bootstrap, "--topics", str(topics)]
    assert run_cli("topics", "apply", *common).returncode == 0
    catalog = Catalog.load(topics)
    worker = make_worker(any_bootstrap, topics, prefix, tmp_path / "w.log")
    worker.start()
    try:
        # the scenario has an unknown dataset on purpose (the worker's dlq): --allow-unknown
        events = write_lines(tmp_path / "e.jsonl", scenario.events())
        out = run_cli("produce", str(events), "--allow-unknown", *common)
        assert out.returncode == 0, out.stderr
        wait_for(
            lambda: caught_up(any_bootstrap, f"{prefix}-eventtime", [catalog.name("arrivals")]),
            timeout=120,
        )
    finally:
        worker.stop()
    scan = ScanTrail(Connection(any_bootstrap), catalog)
    windows = [d for d in scan.all_decisions() if d["subject"]["kind"] == "data_window"]
    assert len(windows) >= 2
    flipped = {"promote": "reject", "reject": "promote"}
    same_id = {**windows[0], "outcome": flipped[windows[0]["outcome"]]}
    new_id = {
        **windows[1],
        "outcome": flipped[windows[1]["outcome"]],
        "decision_id": "sha256:" + "f" * 64,
    }
    audit = catalog.name("audit")
    asyncio.run(
        _send(
            any_bootstrap,
            [
                (audit, d["subject"]["id"].encode(), orjson.dumps(d), None)
                for d in (same_id, new_id)
            ],
        )
    )
    out = run_cli(
        "replay", *common, "--json", str(tmp_path / "r.json"), env=record_time_env(any_bootstrap)
    )
    assert out.returncode == 1 and "replay verdict: MISMATCH" in out.stdout, out.stdout[-2000:]
    bad = {
        s["subject"]
        for s in orjson.loads((tmp_path / "r.json").read_bytes())["subjects"]
        if s["status"] != "match"
    }
    assert bad == {same_id["subject"]["id"], new_id["subject"]["id"]}
    shown = run_cli("audit", "history", same_id["subject"]["id"], "--scan", *common)
    assert shown.returncode == 0 and "CONFLICTING COPY" in shown.stdout, shown.stdout
