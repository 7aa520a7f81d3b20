"""The trust boundary on Apache Kafka (SPEC §5): every attack of the trust-boundary review, sent
as an attacker with a producer's or an operator's credentials would send it, against a real
worker. Nothing a sender controls (the record's time and key, a signature's characters, a
number's size, how many sources or arrivals) gets past its check, and no record stalls a
partition. The frozen-worker case is in tests/chaos (it freezes a worker for real)."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from orchestrator.catalog.topics import Catalog
from orchestrator.core.access import signed
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.read import partitions_of, read_timed
from orchestrator.pipeline.recordtime import LOG_APPEND_TIME
from orchestrator.testing import wait_for
from tests import factories
from tests.conftest import KAFKA_SH, ROOT, caught_up, make_catalog, run_cli
from tests.integration.support import make_worker

KEY = "example-key-alice-for-trust-tests"
KEYS = {"ORCHESTRATOR_KEY_ALICE": KEY, "ORCHESTRATOR_KEY_BOB": "example-key-bob-for-trust-tests"}
#: churn's v1 and v2 are trained on this clicks window, promoted in phase one
W10 = "clicks/2026-11-23T10:00:00Z/PT1H"
SIGNER = ROOT / "docs" / "signing" / "sign-command.sh"


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


async def _send(bootstrap: str, topic: str, records: list[tuple[bytes, bytes, int | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=2**21)
    await producer.start()
    try:
        for key, value, ts in records:
            await producer.send_and_wait(topic, value, key=key, timestamp_ms=ts)
    finally:
        await producer.stop()


def read(bootstrap: str, topic: str) -> list[tuple[int, bytes | None, bytes | None, int, int]]:
    async def go() -> list[tuple[int, bytes | None, bytes | None, int, int]]:
        conn = Connection(bootstrap)
        out = []
        for p in await partitions_of(conn, topic):
            out += [
                (p, r.key, r.value, r.timestamp, r.timestamp_type)
                for r in await read_timed(conn, topic, p, 0, None)
            ]
        return out

    return asyncio.run(go())


def values(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(v) for _, _, v, _, _ in read(bootstrap, topic) if v]


def rollback(event_id: str, issued: datetime, **extra: Any) -> dict[str, Any]:
    from orchestrator.contracts.events import CommandRollback

    cmd = CommandRollback(
        event_id=event_id,
        model="churn",
        actor="alice",
        reason=f"trust test {event_id}",
        issued_at=issued,
        nonce=uuid.uuid4().hex,
        signature="-",
    )
    body = signed(cmd, KEY.encode()).model_dump(mode="json", exclude_none=True)
    return {**body, **extra}


def model_update(version: str, **metrics: Any) -> dict[str, Any]:
    return {
        "type": "model.update",
        "v": 1,
        "event_id": f"churn-{version}",
        "model": "churn",
        "version": version,
        "artifact_uri": f"s3://models/churn/{version}",
        "artifact_digest": f"sha256:{version}",
        "metrics": metrics,
        "trained_on": [W10],
    }


@dataclass
class Attacked:
    bootstrap: str
    catalog: Catalog
    sent: dict[str, Any]

    def dlq(self) -> list[dict[str, Any]]:
        return values(self.bootstrap, self.catalog.name("dlq"))

    def codes(self) -> dict[str, str]:
        return {d.get("event_id") or "?": d["code"] for d in self.dlq()}

    def audit(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for d in values(self.bootstrap, self.catalog.name("audit")):
            out[d["subject"]["id"]].append(d)
        return out


def gates(tmp: Path) -> Path:
    """The shipped gates, with churn remembering only 50 event ids (so that a flood of 120
    live intervals evicts everything an update or interval left there)."""
    out = tmp / "gates"
    shutil.copytree(ROOT / "gates", out)
    churn = yaml.safe_load((out / "models" / "churn.yaml").read_text())
    churn["max_event_ids"] = 50
    (out / "models" / "churn.yaml").write_text(yaml.safe_dump(churn))
    return out


@pytest.fixture(scope="module")
def attacked(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Attacked]:
    """One worker on Apache Kafka, and every attack sent at it, phase by phase."""
    tmp = tmp_path_factory.mktemp("trust")
    prefix = f"t{uuid.uuid4().hex[:8]}"
    topics = make_catalog(tmp / "topics", prefix, partitions=2)
    bs = kafka_bootstrap
    assert run_cli("topics", "apply", "--broker", bs, "--topics", str(topics)).returncode == 0
    catalog = Catalog.load(topics)
    g = gates(tmp)
    worker = make_worker(bs, topics, prefix, tmp / "worker.log", gates=g, env=KEYS)
    worker.start()
    arrivals, updates, commands = (
        catalog.name(r) for r in ("arrivals", "model_updates", "commands")
    )
    sent: dict[str, Any] = {}
    now = datetime.now(UTC).replace(microsecond=0)  # when the attacks are sent, not imported
    sent["now"] = now

    def send(topic: str, *records: tuple[bytes, bytes, int | None]) -> None:
        asyncio.run(_send(bs, topic, list(records)))

    def settle() -> None:
        groups = [
            (f"{prefix}-eventtime", [arrivals]),
            (f"{prefix}-router", [updates, commands]),
            (f"{prefix}-models", [catalog.name("model_log")]),
        ]
        wait_for(lambda: all(caught_up(bs, gr, ts) for gr, ts in groups), timeout=180)

    try:
        # -- phase 1: data --------------------------------------------------------------
        year_9999 = "9999-12-31T23:59:59Z"
        for i, source in enumerate(("eu", "us")):  # both required sources, record time 0
            wm = factories.watermark(f"wm9999-{source}", source=source, watermark=year_9999)
            send(arrivals, (b"clicks", orjson.dumps(wm), 0 if i == 0 else 1))
        for source in ("eu", "us"):
            a = factories.arrival(f"c10-{source}", source=source, event_time="2026-11-23T10:10:00Z")
            send(arrivals, (b"clicks", orjson.dumps(a), None))
        # a window as big as a producer can make it: its manifest would outgrow 1 MiB
        big = [
            factories.arrival(
                f"big-{i:04d}",
                source=("eu", "us")[i % 2],
                event_time="2026-11-23T12:10:00Z",
                uri="s3://lake/clicks/" + "x" * 4000,
            )
            for i in range(300)
        ]
        send(arrivals, *[(b"clicks", orjson.dumps(a), None) for a in big])
        for source in ("eu", "us"):
            wm = factories.watermark(
                f"wm13-{source}", source=source, watermark="2026-11-23T13:00:00Z"
            )
            send(arrivals, (b"clicks", orjson.dumps(wm), None))
        # payments goes on beside it: one window, then its watermark
        pay = factories.arrival(
            "p1",
            dataset="payments",
            source="pos",
            event_time="2026-11-23T10:05:00Z",
            record_count=50,
            schema_fingerprint="sha256:payments-v1",
        )
        send(arrivals, (b"payments", orjson.dumps(pay), None))
        # 150 source names for payments (max_sources 100)
        many = [
            factories.watermark(
                f"src-{i:03d}",
                dataset="payments",
                source=f"s{i:03d}",
                watermark="2026-11-23T10:00:00Z",
            )
            for i in range(150)
        ]
        send(arrivals, *[(b"payments", orjson.dumps(w), None) for w in many])
        wmp = factories.watermark(
            "wmp", dataset="payments", source="pos", watermark="2026-11-23T10:30:00Z"
        )
        send(arrivals, (b"payments", orjson.dumps(wmp), None))
        # the reserved source with a signature that is not hex (compare_digest raised on it)
        forged = factories.watermark(
            "forged-orch", source="orchestrator", watermark="2026-11-23T20:00:00Z"
        )
        send(arrivals, (b"clicks", orjson.dumps({**forged, "signature": "é" * 64}), None))
        # -- phase 2: models --------------------------------------------------------------
        settle()
        send(updates, (b"churn", orjson.dumps(model_update("v1", auc=0.8, logloss=0.4)), None))
        send(updates, (b"churn", orjson.dumps(model_update("v2", auc=0.85, logloss=0.4)), None))
        huge = orjson.dumps(model_update("v9", auc=0.9, logloss=0.4)).replace(
            b'"auc":0.9', b'"auc":18446744073709551616'
        )
        send(updates, (b"churn", huge, None))
        unknown = b'{ "type" : "model.update", "v": 1, "event_id": "nope-1", "model": "nope", "version": "v1",\n "artifact_uri": "s3://m", "artifact_digest": "d", "metrics": {}, "trained_on": [] }'
        sent["unknown"] = unknown
        send(updates, (b"nope", unknown, None))
        settle()
        # -- phase 3: commands ------------------------------------------------------------
        old = now - timedelta(days=30)
        send(
            commands, (b"churn", orjson.dumps(rollback("c-old", old)), ms(old))
        )  # stamped as issued
        send(
            commands, (b"churn", orjson.dumps(rollback("c-badsig", now, signature="ü" * 64)), None)
        )
        c1 = orjson.dumps(rollback("c1", now))
        send(commands, (b"churn", c1, None))
        settle()
        (c1_record,) = [r for r in read(bs, commands) if r[2] == c1]
        sent["c1_ts"] = c1_record[3]
        send(commands, (b"churn", orjson.dumps(rollback("c2", now + timedelta(seconds=1))), None))
        flood = [
            {
                "type": "model.performance",
                "v": 1,
                "event_id": f"perf-{i:03d}",
                "model": "churn",
                "version": "v1",
                "interval_start": "2026-11-23T10:00:00Z",
                "interval_end": "2026-11-23T11:00:00Z",
                "metrics": {"auc": 0.8},
                "sample_count": 10,
            }
            for i in range(120)
        ]
        send(updates, *[(b"churn", orjson.dumps(p), None) for p in flood])
        settle()
        send(commands, (b"churn", c1, c1_record[3]))  # the obeyed rollback again, as it was
        # a command signed with bash and openssl, sent with kcat (a third-party client)
        keyfile = tmp / "alice.key"
        keyfile.write_text(KEY + "\n")
        keyfile.chmod(0o600)
        signer = subprocess.run(
            [
                "bash",
                str(SIGNER),
                str(keyfile),
                "override",
                "churn:v2",
                "promote",
                "alice",
                "back to v2",
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "EVENT_ID": "bash-1"},
        )
        kcat = subprocess.run(
            ["kcat", "-b", bs, "-t", commands, "-P", "-K", "|"],
            input=f"churn:v2|{signer.stdout.strip()}\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert kcat.returncode == 0, kcat.stderr
        settle()
        sent["ready"] = worker.proc is not None and worker.proc.poll() is None
        yield Attacked(bs, catalog, sent)
    finally:
        worker.stop()


def test_input_records_carry_the_broker_s_time_whatever_the_sender_set(attacked: Attacked) -> None:
    """Every record on the input topics is LogAppendTime: the times the attacks set (0, 1, an
    old command's issued_at) were replaced by the broker's."""
    for role in ("arrivals", "model_updates", "commands"):
        records = read(attacked.bootstrap, attacked.catalog.name(role))
        assert records and {r[4] for r in records} == {LOG_APPEND_TIME}, role
        assert min(r[3] for r in records) > ms(attacked.sent["now"] - timedelta(hours=1))


def test_a_year_9999_watermark_cannot_close_a_dataset(attacked: Attacked) -> None:
    """Watermarks at year 9999 from both required sources, sent with record times 0 and 1, are
    judged against broker time (E_FUTURE_EVENT); clicks goes on: its 10:00 window fires and is
    promoted, no arrival is too late."""
    codes = attacked.codes()
    assert codes["wm9999-eu"] == codes["wm9999-us"] == "E_FUTURE_EVENT"
    assert [d["outcome"] for d in attacked.audit()[W10]] == ["promote"]
    assert values(attacked.bootstrap, attacked.catalog.name("late")) == []


def test_a_window_too_large_for_its_topic_is_refused_not_retried(attacked: Attacked) -> None:
    """300 arrivals of 4 KB uris in one window: those beyond what a 1 MiB manifest holds go to
    the dlq (E_WINDOW_FULL), the window fires once with what it holds and is rejected as
    incomplete, payments' window is decided once beside it, and the worker stayed up."""
    big = "clicks/2026-11-23T12:00:00Z/PT1H"
    full = [e for e, c in attacked.codes().items() if c == "E_WINDOW_FULL"]
    windows = [
        m
        for m in values(attacked.bootstrap, attacked.catalog.name("windows"))
        if m["window_id"] == big
    ]
    assert full and len({(m["window_id"], m["revision"]) for m in windows}) == 1
    (manifest,) = {orjson.dumps(m): m for m in windows}.values()
    assert manifest["refused"] == len(full) and len(manifest["arrivals"]) + len(full) == 300
    (decision,) = {d["decision_id"]: d for d in attacked.audit()[big]}.values()
    assert decision["outcome"] == "reject"
    errors = [c["code"] for c in decision["checks"] if not c["passed"] and c["severity"] == "error"]
    assert errors == ["E_WINDOW_FULL"]
    payments = [s for s in attacked.audit() if s.startswith("payments/")]
    assert payments and all(
        len({d["revision"] for d in attacked.audit()[s]}) == 1 for s in payments
    )
    assert attacked.sent["ready"]


def test_sources_per_dataset_are_bounded(attacked: Attacked) -> None:
    """150 source names for payments: the first 99 new ones are kept beside pos (max_sources
    100), the other 51 are refused with E_SOURCE_LIMIT."""
    limited = [e for e, c in attacked.codes().items() if c == "E_SOURCE_LIMIT"]
    assert sorted(limited) == [f"src-{i:03d}" for i in range(99, 150)]


def test_malformed_signatures_are_refused_with_their_code_not_as_bugs(attacked: Attacked) -> None:
    """A reserved-source watermark and a rollback whose signatures are not hex: E_RESERVED_SOURCE
    (dlq) and a denial with E_BAD_SIGNATURE (audited); no E_INTERNAL anywhere."""
    codes = attacked.codes()
    assert codes["forged-orch"] == "E_RESERVED_SOURCE"
    (denied,) = attacked.audit()["c-badsig"]
    assert denied["outcome"] == "denied"
    assert [c["code"] for c in denied["checks"] if not c["passed"]] == ["E_BAD_SIGNATURE"]
    assert "E_INTERNAL" not in codes.values()


def test_a_metric_beyond_2_53_is_refused_not_crowned(attacked: Attacked) -> None:
    """auc = 2^64 (a JSON integer) is refused (E_SCHEMA) and never decided."""
    assert attacked.codes()["churn-v9"] == "E_SCHEMA"
    assert "churn:v9" not in attacked.audit()


def test_an_unknown_model_s_dlq_record_holds_the_bytes_sent(attacked: Attacked) -> None:
    """The dlq envelope of an update for an undeclared model holds the record's bytes exactly
    as the producer sent them (spaces and newline included)."""
    (env,) = [d for d in attacked.dlq() if d["code"] == "E_UNKNOWN_MODEL"]
    assert base64.b64decode(env["original"]) == attacked.sent["unknown"]


def test_an_old_command_stamped_with_its_issued_at_is_not_obeyed(attacked: Attacked) -> None:
    """A rollback issued 30 days ago, sent with its record time set to its issued_at: the
    broker stamps it now, so it is far too old to be judged at all (dlq E_COMMAND_EXPIRED)."""
    assert attacked.codes()["c-old"] == "E_COMMAND_EXPIRED"
    assert "c-old" not in attacked.audit()


def test_an_obeyed_command_is_obeyed_once_for_ever(attacked: Attacked) -> None:
    """c1 is obeyed (its decision lists freshness and nonce, and names the command); a later
    command and 120 live intervals (past churn's max_event_ids of 50) later, c1's exact bytes
    are sent again with their original record time: ignored, one decision for c1, the
    champion moved by c1 once only."""
    audit = attacked.audit()
    (c1,) = {d["decision_id"]: d for d in audit["c1"]}.values()
    assert c1["outcome"] == "rollback" and (c1["champion_before"], c1["champion_after"]) == (
        "v2",
        "v1",
    )
    assert [c["name"] for c in c1["checks"]] == [
        "signature",
        "freshness",
        "nonce",
        "rollback_target",
    ]
    assert c1["inputs"]["event_ids"] == ["c1"] and c1["inputs"]["offsets"][0]["topic"].endswith(
        "commands"
    )
    rollbacks = [d for s, ds in audit.items() for d in ds if d["outcome"] == "rollback"]
    assert {d["subject"]["id"] for d in rollbacks} == {"c1"}


def test_a_command_signed_with_bash_and_openssl_and_sent_with_kcat_is_obeyed(
    attacked: Attacked,
) -> None:
    """docs/signing/sign-command.sh signs an override, kcat sends it: the worker verifies the
    signature and obeys it (v2 champion again)."""
    decisions = [d for d in attacked.audit()["churn:v2"] if d["outcome"] == "override"]
    assert decisions and decisions[-1]["champion_after"] == "v2"
    assert next(c for c in decisions[-1]["checks"] if c["name"] == "signature")["passed"]


# -- the worker's own start and readiness ------------------------------------------------------


def test_the_worker_refuses_input_topics_whose_times_the_sender_sets(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """An input topic created as CreateTime: `topics apply` reports it and changes nothing, the
    worker refuses to start on it (exit 2, one line naming the setting), and with the explicit
    opt-in record_time=producer it starts."""
    prefix = f"ct{uuid.uuid4().hex[:8]}"
    topics = make_catalog(tmp_path / "topics", prefix, partitions=1)
    catalog = Catalog.load(topics)

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics(
                [
                    NewTopic(
                        catalog.name("arrivals"),
                        1,
                        1,
                        topic_configs={"message.timestamp.type": "CreateTime"},
                    )
                ]
            )
        finally:
            await admin.close()

    asyncio.run(create())
    out = run_cli("topics", "apply", "--broker", kafka_bootstrap, "--topics", str(topics))
    assert out.returncode == 1
    assert (
        f"topic {catalog.name('arrivals')}: message.timestamp.type: expected LogAppendTime, actual CreateTime"
        in out.stderr
    )
    out = run_cli(
        "worker",
        "--broker",
        kafka_bootstrap,
        "--topics",
        str(topics),
        "--apply-topics",
        "--web-port",
        "0",
        env=KEYS,
        timeout=120,
    )
    assert out.returncode == 1 and "message.timestamp.type" in out.stderr, out.stderr
    # the opt-in: sender-set times bounded by the worker's clock
    w = make_worker(
        kafka_bootstrap,
        topics,
        prefix,
        tmp_path / "w.log",
        env=KEYS,
        args=["--apply-topics", "--record-time", "producer"],
    )
    w.start()
    try:
        import urllib.request

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{w.port}/readyz", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_for(ready, timeout=120)
    finally:
        w.stop()


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[tuple[str, int]]:
    run = tmp_path / "kafka"
    out = subprocess.run(
        ["bash", str(KAFKA_SH), "start", str(run)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    try:
        yield out.stdout.strip().splitlines()[-1], int((run / "kafka.pid").read_text())
    finally:
        subprocess.run(["bash", str(KAFKA_SH), "stop", str(run)], timeout=120)


def test_readiness_fails_within_the_session_time_out_when_the_broker_stops_answering(
    own_kafka: tuple[str, int], tmp_path: Path
) -> None:
    """The broker frozen (SIGSTOP: it still accepts connections, it answers nothing): /readyz
    answers 503 within the session time-out (10 s), and 200 again once it is thawed."""
    import signal
    import urllib.error
    import urllib.request

    bootstrap, pid = own_kafka
    prefix = f"rz{uuid.uuid4().hex[:8]}"
    topics = make_catalog(tmp_path / "topics", prefix, partitions=1)
    assert (
        run_cli("topics", "apply", "--broker", bootstrap, "--topics", str(topics)).returncode == 0
    )
    w = make_worker(bootstrap, topics, prefix, tmp_path / "w.log", env=KEYS)
    w.start()

    def status() -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{w.port}/readyz", timeout=3) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return 0

    try:
        wait_for(lambda: status() == 200, timeout=120)
        os.kill(pid, signal.SIGSTOP)
        frozen = time.monotonic()
        try:
            wait_for(lambda: status() == 503, timeout=10, every=0.25)
            took = time.monotonic() - frozen
        finally:
            os.kill(pid, signal.SIGCONT)
        assert took < 10
        wait_for(lambda: status() == 200, timeout=120)
    finally:
        w.stop()


def test_a_worker_key_file_others_can_read_stops_the_worker(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A worker key readable by group or others, or shorter than 16 bytes: the worker does not
    start (exit 2, one line naming the file and why)."""
    topics = make_catalog(tmp_path / "topics", f"wk{uuid.uuid4().hex[:8]}", partitions=1)
    for content, mode, reason in (
        (b"k" * 32, 0o644, "readable by group or others"),
        (b"short", 0o600, "a key needs at least 16"),
    ):
        key = tmp_path / f"worker-{mode:o}.key"
        key.write_bytes(content)
        key.chmod(mode)
        out = run_cli(
            "worker",
            "--broker",
            kafka_bootstrap,
            "--topics",
            str(topics),
            "--apply-topics",
            env={**KEYS, "ORCHESTRATOR_WORKER_KEY_FILE": str(key)},
            timeout=120,
        )
        assert out.returncode == 2 and reason in out.stderr and str(key) in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
