"""Gates and promotion end to end through the worker on real Apache Kafka (issue: SPEC §4 and §5).

Two datasets, two models: promote, reject, hold-then-promote, regression reject, retraction with
automatic rollback, an authorized and an unauthorized rollback, and a retraining trigger. The
audit topic, `models.champions` and `training.requested` are read back record by record.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from orchestrator.catalog.topics import Catalog
from orchestrator.kafka.clients import Connection
from orchestrator.testing import wait_for
from tests import factories
from tests.conftest import make_catalog, run_cli
from tests.integration.support import make_worker, read

KEYS = {
    "ORCHESTRATOR_KEY_ALICE": "example-key-alice-for-tests",
    "ORCHESTRATOR_KEY_BOB": "example-key-bob-for-tests",
}
C = "clicks/2026-11-23T{}:00:00Z/PT1H"
P = "payments/2026-11-23T10:{}:00Z/PT15M"


def click(eid: str, src: str, t: str, n: int = 100) -> dict[str, Any]:
    return factories.arrival(
        eid, dataset="clicks", source=src, event_time=f"2026-11-23T{t}Z", record_count=n
    )


def pay(eid: str, t: str, n: int = 50, fp: str = "sha256:payments-v1") -> dict[str, Any]:
    return factories.arrival(
        eid,
        dataset="payments",
        source="pos",
        event_time=f"2026-11-23T{t}Z",
        record_count=n,
        schema_fingerprint=fp,
    )


def model(model_: str, version: str, trained_on: list[str], **metrics: float) -> dict[str, Any]:
    return {
        "type": "model.update",
        "v": 1,
        "event_id": f"{model_}-{version}",
        "model": model_,
        "version": version,
        "artifact_uri": f"s3://models/{model_}/{version}",
        "artifact_digest": f"sha256:{version}",
        "metrics": metrics,
        "trained_on": trained_on,
    }


class Audit:
    def __init__(self, bootstrap: str, catalog: Catalog) -> None:
        self.bootstrap, self.catalog = bootstrap, catalog

    def by_subject(self) -> dict[str, dict[int, dict[str, Any]]]:
        out: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
        for d in read(self.bootstrap, self.catalog.name("audit")):
            previous = out[d["subject"]["id"]].get(d["revision"])
            assert previous is None or previous["decision_id"] == d["decision_id"], (
                "two decisions, one revision"
            )
            out[d["subject"]["id"]][d["revision"]] = d
        return out

    def outcomes(self) -> dict[str, list[str]]:
        return {
            s: [revs[r]["outcome"] for r in sorted(revs)] for s, revs in self.by_subject().items()
        }

    def wait(self, subject: str, outcomes: list[str], timeout: float = 60) -> None:
        wait_for(lambda: self.outcomes().get(subject) == outcomes, timeout=timeout)


def failed_codes(decision: dict[str, Any]) -> list[str]:
    return sorted(c["code"] for c in decision["checks"] if not c["passed"])


@dataclass
class Run:
    bootstrap: str
    topics: Path
    catalog: Catalog
    tmp: Path
    times: dict[str, str]


@pytest.fixture(scope="module")
def gates_run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The scenario, run once through a real worker on Apache Kafka."""
    tmp_path = tmp_path_factory.mktemp("gates")
    prefix = f"g{uuid.uuid4().hex[:8]}"
    topics = make_catalog(tmp_path / "topics", prefix, partitions=3)
    bs = kafka_bootstrap
    assert run_cli("topics", "apply", "--broker", bs, "--topics", str(topics)).returncode == 0
    catalog = Catalog.load(topics)
    audit = Audit(bs, catalog)

    def produce(*objs: dict[str, Any]) -> None:
        path = tmp_path / f"{uuid.uuid4().hex}.jsonl"
        path.write_bytes(b"\n".join(orjson.dumps(o) for o in objs))
        out = run_cli("produce", str(path), "--broker", bs, "--topics", str(topics))
        assert out.returncode == 0, out.stderr

    env = {**KEYS, "ORCHESTRATOR_SNAPSHOT_INTERVAL_S": "1"}  # state snapshots for replay --since
    worker = make_worker(bs, topics, prefix, tmp_path / "worker.log", env=env)
    worker.start()
    times: dict[str, str] = {}
    try:
        # Phase A: data. clicks 10, 11, 12 complete (eu + us); payments 10:00 bad schema,
        # 10:15 good, 10:30 too few records.
        produce(
            *[
                click(f"c{h}{s}", s, f"{h}:{m}:00")
                for h in (10, 11, 12)
                for s, m in (("eu", 10), ("us", 20))
            ],
            click("c13eu", "eu", "13:06:00"),
            click("c13us", "us", "13:06:00"),
            pay("p1", "10:01:00", fp="sha256:payments-v0"),
            pay("p2", "10:16:00"),
            pay("p3", "10:31:00", n=5),
            pay("p4", "10:50:00"),
        )
        audit.wait(C.format(12), ["promote"])
        audit.wait(P.format(30), ["reject"])

        # Phase B: models. v4 is trained on a window that has not fired yet: hold.
        produce(
            model("churn", "v1", [C.format(10)], auc=0.80, logloss=0.40),
            model("churn", "v2", [C.format(11)], auc=0.85, logloss=0.35),
            model("churn", "v3", [C.format(11)], auc=0.80, logloss=0.35),
            model("fraud", "f1", [P.format("00")], recall=0.9, false_positive_rate=0.01),
            model("fraud", "f2", [P.format(15)], recall=0.9, false_positive_rate=0.01),
        )
        audit.wait("churn:v3", ["reject"])
        produce(model("churn", "v4", [C.format(13)], auc=0.86, logloss=0.30))
        audit.wait("churn:v4", ["hold"])
        produce(click("c14eu", "eu", "14:06:00"), click("c14us", "us", "14:06:00"))  # fires 13:00
        audit.wait("churn:v4", ["hold", "promote"])
        # the moment v4 became champion, as recorded (not a wall-clock reading of the test's)
        times["v4_champion"] = audit.by_subject()["churn:v4"][2]["decided_at"]

        # Phase C: a late arrival turns clicks 13:00 into reject: v4 is rolled back to v2.
        produce(click("c13big", "eu", "13:30:00", n=6_000_000))
        audit.wait("churn:v4", ["hold", "promote", "rollback"])

        # Phase D: commands through the CLI.
        ok = run_cli(
            "rollback",
            "churn",
            "--actor",
            "alice",
            "--reason",
            "bad canary",
            "--event-id",
            "cmd-alice",
            "--broker",
            bs,
            "--topics",
            str(topics),
            env=KEYS,
        )
        assert ok.returncode == 0, ok.stderr
        bad = run_cli(
            "rollback",
            "churn",
            "--actor",
            "bob",
            "--reason",
            "not mine",
            "--event-id",
            "cmd-bob",
            "--broker",
            bs,
            "--topics",
            str(topics),
            env=KEYS,
        )
        assert bad.returncode == 0, bad.stderr  # sent; the worker denies it
        audit.wait("cmd-bob", ["denied"])
        audit.wait("cmd-alice", ["rollback"])
    finally:
        worker.stop()
    return Run(bs, topics, catalog, tmp_path, times)


def test_gates_promotion_commands_and_triggers(gates_run: Run) -> None:
    """Every outcome of SPEC §4 happens through the worker and is audited per SPEC §5."""
    bs, catalog, tmp_path = gates_run.bootstrap, gates_run.catalog, gates_run.tmp
    audit = Audit(bs, catalog)
    log = (tmp_path / "worker.log").read_text()
    assert "example-key" not in log and "signature" not in log  # no secrets in logs
    d = audit.by_subject()
    assert audit.outcomes() == {
        C.format(10): ["promote"],
        C.format(11): ["promote"],
        C.format(12): ["promote"],
        C.format(13): ["promote", "reject"],
        P.format("00"): ["reject"],
        P.format(15): ["promote"],
        P.format(30): ["reject"],
        "churn:v1": ["promote"],
        "churn:v2": ["promote"],
        "churn:v3": ["reject"],
        "churn:v4": ["hold", "promote", "rollback"],
        "fraud:f1": ["reject"],
        "fraud:f2": ["promote"],
        "cmd-alice": ["rollback"],
        "cmd-bob": ["denied"],
        "churn": ["retrain"],  # every 3 promoted windows of clicks
    }
    # data decisions: evidence, codes, supersedes, inputs
    assert failed_codes(d[P.format("00")][1]) == ["E_SCHEMA_MISMATCH"]
    assert failed_codes(d[P.format(30)][1]) == ["E_RECORD_COUNT"]
    assert failed_codes(d[C.format(13)][2]) == [
        "E_RECORD_COUNT",
        "E_VOLUME_DRIFT",
    ]  # drift is a warn
    assert d[C.format(13)][2]["supersedes"] == d[C.format(13)][1]["decision_id"]
    assert d[C.format(10)][1]["inputs"]["event_ids"] == ["c10eu", "c10us"]
    assert {o["topic"] for o in d[C.format(10)][1]["inputs"]["offsets"]} == {
        catalog.name("arrivals")
    }
    assert (
        d[C.format(10)][1]["gate"]["name"] == "dataset/clicks" and d[C.format(10)][1]["watermark"]
    )
    # model decisions
    assert failed_codes(d["churn:v3"][1]) == ["E_REGRESSION"]
    assert failed_codes(d["fraud:f1"][1]) == ["E_LINEAGE_REJECTED"]
    assert failed_codes(d["churn:v4"][1]) == ["E_LINEAGE_PENDING"]
    v4 = d["churn:v4"]
    assert (
        v4[2]["supersedes"] == v4[1]["decision_id"] and v4[3]["supersedes"] == v4[2]["decision_id"]
    )
    assert (v4[2]["champion_before"], v4[2]["champion_after"]) == ("v2", "v4")
    assert (v4[3]["champion_before"], v4[3]["champion_after"]) == ("v4", "v2")
    assert "E_LINEAGE_REJECTED" in failed_codes(v4[3])
    assert (d["churn:v1"][1].get("champion_before"), d["churn:v1"][1]["champion_after"]) == (
        None,
        "v1",
    )
    # commands
    assert (d["cmd-alice"][1]["champion_before"], d["cmd-alice"][1]["champion_after"]) == (
        "v2",
        "v1",
    )
    assert failed_codes(d["cmd-bob"][1]) == ["E_UNAUTHORIZED"]
    assert d["cmd-bob"][1]["champion_after"] == "v1"
    # every record is a valid audit.decision with a version and a time
    for revs in d.values():
        for rec in revs.values():
            assert (
                rec["type"] == "audit.decision"
                and rec["decided_at"]
                and rec["orchestrator_version"]
            )
    # champions: the latest record per model
    champions: dict[str, Any] = {}
    for rec in read(bs, catalog.name("champions")):
        champions[rec["model"]] = rec
    assert {m: r["version"] for m, r in champions.items()} == {"churn": "v1", "fraud": "f2"}
    assert champions["churn"]["decision_id"] == d["cmd-alice"][1]["decision_id"]
    # retraining: churn every 3 promoted windows of clicks; fraud every 4 of payments (only 1)
    requests = read(bs, catalog.name("training"))
    assert [(r["model"], r["reason"], r["windows"]) for r in requests] == [
        ("churn", "every", [C.format(10), C.format(11), C.format(12)])
    ]
    # each request is an audited decision of its own (kind training, outcome retrain)
    (asked,) = d["churn"].values()
    assert (asked["outcome"], asked["decision_id"]) == ("retrain", requests[0]["decision_id"])
    assert asked["checks"][0]["observed"] == {"promoted_windows": requests[0]["windows"]}


def replay_cli(run: Run, *args: str, gates: Path | None = None) -> tuple[int, dict[str, Any], str]:
    report = run.tmp / f"replay-{uuid.uuid4().hex[:6]}.json"
    extra = ["--gates", str(gates)] if gates else []
    out = run_cli(
        "replay",
        "--broker",
        run.bootstrap,
        "--topics",
        str(run.topics),
        "--json",
        str(report),
        *extra,
        *args,
        env=KEYS,
    )
    data = orjson.loads(report.read_bytes()) if report.exists() else {}
    return out.returncode, data, out.stdout + out.stderr


def test_replay_matches(gates_run: Run) -> None:
    """Replay re-derives every recorded decision (data, model and command, each revision) and
    every models.log entry from the topics: all match, exit 0."""
    code, report, text = replay_cli(gates_run)
    assert code == 0, text
    assert report["ok"] and report["summary"]["mismatch"] == report["summary"]["missing"] == 0
    full = Audit(gates_run.bootstrap, gates_run.catalog).by_subject()
    revisions = {(s, r) for s, revs in full.items() for r in revs}
    kinds = {d["subject"]["kind"] for revs in full.values() for d in revs.values()}
    assert kinds == {"data_window", "model_version", "command", "training"}
    assert report["summary"]["extra"] == 0 and report["summary"]["match"] == len(revisions) > 16
    log = report["models_log"]
    assert log["checked"] and log["entries"] > 0
    assert log["match"] == log["entries"] - log["duplicates"]
    assert log["missing"] == log["extra"] == log["mismatch"] == log["out_of_order"] == 0
    assert "replay verdict: MATCH" in text and "models.log:" in text and "events/s" in text


def test_replay_ranges(gates_run: Run) -> None:
    """An offset range and a time range compare only the decisions triggered inside them."""
    arrivals = gates_run.catalog.name("arrivals")
    full = Audit(gates_run.bootstrap, gates_run.catalog).by_subject()
    trig = {
        s: revs[1]["trigger"]
        for s, revs in full.items()
        if revs[1]["subject"]["kind"] == "data_window"
    }
    clicks10 = trig[C.format(10)]
    assert clicks10["topic"] == arrivals
    p, o = clicks10["partition"], clicks10["offset"]
    code, report, text = replay_cli(
        gates_run, "--from-offset", f"{p}:{o}", "--to-offset", f"{p}:{o}"
    )
    assert code == 0, text
    data = [s for s in report["subjects"] if s["kind"] == "data_window"]
    expected = {
        (s, r)
        for s, revs in full.items()
        for r, d in revs.items()
        if d["subject"]["kind"] == "data_window"
        and d["trigger"]["partition"] == p
        and d["trigger"]["offset"] == o
    }
    assert {(s["subject"], s["revision"]) for s in data} == expected and all(
        s["status"] == "match" for s in data
    )
    # time range: everything up to the moment v4 became champion, nothing after
    code, report, text = replay_cli(gates_run, "--until", gates_run.times["v4_champion"])
    assert code == 0, text
    subjects = {s["subject"] for s in report["subjects"]}
    revisions = sum(len(revs) for revs in full.values())
    assert "churn:v2" in subjects and "cmd-alice" not in subjects
    assert 0 < report["summary"]["match"] < revisions
    assert report["models_log"] == {"checked": False}  # a range cuts the log and its sources


def test_replay_since_starts_from_a_verified_snapshot(gates_run: Run) -> None:
    """With --since, each data.arrivals partition the worker snapshotted before that time is
    derived from its snapshot, not from offset 0, and the comparison is the same as without."""
    since = gates_run.times["v4_champion"]
    code, report, text = replay_cli(gates_run, "--since", since)
    assert code == 0, text
    used = report["snapshots"]["used"]
    assert used and report["snapshots"]["rejected"] == 0, report["snapshots"]
    assert all(s["position"] > 0 for s in used.values())
    assert "snapshots: " in text and "started from one" in text
    code0, report0, text0 = replay_cli(gates_run, "--since", since, "--no-snapshot")
    assert code0 == 0, text0
    assert report0["snapshots"] == {}
    assert report["subjects"] == report0["subjects"]
    assert report["summary"]["events"] < report0["summary"]["events"]  # fewer records read


def test_audit_queries(gates_run: Run) -> None:
    """History, lineage down to arrivals and offsets, and champion-at-time from the audit trail."""
    common = ["--broker", gates_run.bootstrap, "--topics", str(gates_run.topics)]
    out = run_cli("audit", "history", "churn:v4", "--json", *common)
    assert out.returncode == 0, out.stderr
    hist = orjson.loads(out.stdout)["decisions"]
    assert [(d["revision"], d["outcome"]) for d in hist] == [
        (1, "hold"),
        (2, "promote"),
        (3, "rollback"),
    ]
    text = run_cli("audit", "history", "churn:v4", *common).stdout
    assert "rev 3 rollback" in text and "champion v4 -> v2" in text

    out = run_cli("audit", "lineage", "churn:v2", "--json", *common)
    assert out.returncode == 0, out.stderr
    lin = orjson.loads(out.stdout)
    (w,) = lin["windows"]
    assert w["window_id"] == C.format(11) and w["decisions"][0]["outcome"] == "promote"
    assert sorted(a["event_id"] for a in w["arrivals"]) == ["c11eu", "c11us"]
    assert all(
        a["uri"].startswith("s3://lake/clicks/") and a["checksum"] and a["offset"] >= 0
        for a in w["arrivals"]
    )
    assert lin["update"]["event_id"] == "churn-v2"

    out = run_cli(
        "audit", "champion", "churn", "--at", gates_run.times["v4_champion"], "--json", *common
    )
    assert out.returncode == 0 and orjson.loads(out.stdout)["champion"] == "v4"
    out = run_cli("audit", "champion", "churn", "--at", "2999-01-01T00:00:00Z", "--json", *common)
    assert orjson.loads(out.stdout)["champion"] == "v1"
    out = run_cli("audit", "champion", "churn", "--at", "2000-01-01T00:00:00Z", "--json", *common)
    assert orjson.loads(out.stdout)["champion"] is None

    missing = run_cli("audit", "history", "nope:v9", *common)
    assert (
        missing.returncode == 1 and "no decisions recorded for subject 'nope:v9'" in missing.stderr
    )


def test_audit_index_answers_like_the_topics(gates_run: Run, tmp_path: Path) -> None:
    """The audit index, built from the topics, answers history, lineage and champion exactly as a
    scan of the topics does; it is incremental, read-only to SQL, and exports Parquet."""
    index = tmp_path / "audit.sqlite"
    common = ["--broker", gates_run.bootstrap, "--topics", str(gates_run.topics)]
    at = ["--index", str(index)]
    out = run_cli("audit", "index", *common, *at)
    assert out.returncode == 0 and "rows added" in out.stdout, out.stderr
    again = run_cli("audit", "index", *common, *at)
    assert again.returncode == 0 and ": 0 records read, 0 rows added" in again.stdout, again.stdout
    queries = [
        ["history", "churn:v4"],
        ["history", C.format(13)],
        ["lineage", "churn:v2"],
        ["lineage", "churn", "v2"],  # the older form answers the same
        ["champion", "churn", "--at", gates_run.times["v4_champion"]],
    ]
    for q in queries:
        scanned = run_cli("audit", *q, "--json", "--scan", *common, *at)
        indexed = run_cli("audit", *q, "--json", "--no-refresh", *common, *at)
        assert scanned.returncode == indexed.returncode == 0, indexed.stderr
        got, want = orjson.loads(indexed.stdout), orjson.loads(scanned.stdout)
        assert got.pop("as_of")["source"] != want.pop("as_of")["source"]
        assert got == want, q
    # the index alone answers (no broker needed)
    offline = run_cli(
        "audit",
        "history",
        "churn:v4",
        "--no-refresh",
        "--broker",
        "127.0.0.1:1",
        "--topics",
        str(gates_run.topics),
        *at,
    )
    assert offline.returncode == 0 and "rev 3 rollback" in offline.stdout, offline.stderr
    no_version = run_cli("audit", "lineage", "churn", "--no-refresh", *common, *at)
    assert no_version.returncode == 1, no_version.stderr
    assert "MODEL:VERSION, e.g. churn:v3" in no_version.stderr
    assert len(no_version.stderr.strip().splitlines()) == 1

    full = Audit(gates_run.bootstrap, gates_run.catalog).by_subject()
    n = sum(len(revs) for revs in full.values())
    local = ["--topics", str(gates_run.topics), *at]  # sql and export read the index only
    out = run_cli("audit", "sql", "SELECT count(*) AS n FROM decisions", "--json", *local)
    assert out.returncode == 0 and orjson.loads(out.stdout) == [{"n": n}], out.stderr
    refused = run_cli("audit", "sql", "DELETE FROM decisions", *local)
    assert refused.returncode == 1 and "readonly" in refused.stderr.lower(), refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    parquet = tmp_path / "decisions.parquet"
    out = run_cli("audit", "export", "--out", str(parquet), *local)
    assert out.returncode == 0 and f"exported {n} rows" in out.stdout, out.stderr
    import duckdb

    query = f"SELECT count(DISTINCT decision_id) FROM read_parquet('{parquet}')"
    assert duckdb.connect().execute(query).fetchone() == (n,)
    # the name says the format: JSON is JSON, JSON lines one object per line, the same rows
    as_json = tmp_path / "decisions.json"
    out = run_cli("audit", "export", "--out", str(as_json), *local)
    assert out.returncode == 0 and "(json)" in out.stdout, out.stderr
    rows = orjson.loads(as_json.read_bytes())
    assert len({r["decision_id"] for r in rows}) == n
    lines = tmp_path / "decisions.jsonl"
    assert run_cli("audit", "export", "--out", str(lines), *local).returncode == 0
    assert [orjson.loads(x) for x in lines.read_bytes().splitlines()] == rows


def test_audit_index_resumes_after_a_crash(gates_run: Run, tmp_path: Path) -> None:
    """An index build that dies part way (here: after three chunks of one record) keeps what it
    committed; the next build goes on from the stored positions and ends with exactly the rows
    of a build that never stopped."""
    from orchestrator.audit.index import AuditIndex

    conn = Connection(gates_run.bootstrap)
    clean = AuditIndex(tmp_path / "clean.sqlite", gates_run.catalog)
    clean.update(conn)
    crashed = AuditIndex(tmp_path / "crashed.sqlite", gates_run.catalog)
    applied = crashed._apply
    calls = 0

    def dies_after_three(*args: Any) -> int:
        nonlocal calls
        calls += 1
        if calls > 3:
            raise RuntimeError("power cut")
        return applied(*args)

    crashed._apply = dies_after_three  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="power cut"):
        crashed.update(conn, chunk=1)
    crashed.close()
    resumed = AuditIndex(tmp_path / "crashed.sqlite", gates_run.catalog)
    assert sum(resumed.positions().values()) == 3  # three one-record chunks were committed
    resumed.update(conn, chunk=7)
    for table in ("decisions", "windows", "model_updates"):
        rows = f'SELECT * FROM {table} ORDER BY "partition", "offset"'
        assert resumed.sql(rows) == clean.sql(rows), table
    assert resumed.positions() == clean.positions()


def test_replay_reports_tampering(gates_run: Run, tmp_path: Path) -> None:
    """A forged audit record and a changed policy show up as exactly those mismatches; exit 1."""
    import shutil

    from orchestrator.produce import send_raw
    from tests.conftest import ROOT

    bs, catalog = gates_run.bootstrap, gates_run.catalog
    # 1. a policy change: payments now needs at least 60 records -> its 3 window decisions differ
    gates = tmp_path / "gates"
    shutil.copytree(ROOT / "gates", gates)
    pay_policy = gates / "datasets" / "payments.yaml"
    pay_policy.write_text(pay_policy.read_text().replace("min: 10", "min: 60"))
    code, report, text = replay_cli(gates_run, gates=gates)
    assert code == 1, text
    bad = [s for s in report["subjects"] if s["status"] != "match"]
    windows = {P.format("00"), P.format(15), P.format(30)}
    # models replay from models.log, so their decisions still match; but the notices the fan-out
    # gave the fraud model (which lists payments) no longer match the policy's decisions
    assert {s["subject"] for s in bad if s["kind"] != "model_log"} == windows, text
    notices = {s["subject"] for s in bad if s["kind"] == "model_log"}
    assert notices and all(n.startswith("models.log/fraud/data/") for n in notices), text
    assert "gate" in next(s for s in report["subjects"] if s["subject"] == P.format(30))["diff"]

    # 2. a forged audit record: clicks 10:00 revision 1 recorded again with another outcome
    full = Audit(bs, catalog).by_subject()
    forged = dict(full[C.format(10)][1])
    forged |= {"outcome": "reject", "decision_id": "sha256:" + "f" * 64}
    asyncio.run(
        send_raw(
            Connection(bs), catalog.name("audit"), [(C.format(10).encode(), orjson.dumps(forged))]
        )
    )
    code, report, text = replay_cli(gates_run)
    assert code == 1, text
    bad = [s for s in report["subjects"] if s["status"] != "match"]
    assert {s["subject"] for s in bad} == {C.format(10)}, text
    assert "replay verdict: MISMATCH" in text

    # 3. a forged models.log entry: a data notice no data decision gave (for a window no version
    # was trained on, so that the model gate only remembers it)
    log_topic = catalog.name("model_log")
    notice = next(
        e for e in read(bs, log_topic) if e["kind"] == "data" and e["window_id"] == C.format(10)
    )
    forged_notice = {
        **notice,
        "window_id": "clicks/2026-01-01T00:00:00Z/PT1H",
        "outcome": "reject",
        "decision_id": "sha256:" + "e" * 64,
    }
    asyncio.run(send_raw(Connection(bs), log_topic, [(b"churn", orjson.dumps(forged_notice))]))
    code, report, text = replay_cli(gates_run)
    assert code == 1, text
    bad = [s for s in report["subjects"] if s["status"] != "match"]
    assert {s["subject"] for s in bad} == {C.format(10), _log_name(forged_notice)}, text
    assert report["models_log"]["extra"] == 1


def _log_name(notice: dict[str, Any]) -> str:
    src = notice["source"]
    return (
        f"models.log/churn/data/{src['topic']}:{src['partition']}@{src['offset']}"
        f"/{notice['decision_id']}"
    )
