"""Known answers: decision ids computed by hand, and whole audit records pinned as reviewed
golden files (tests/golden/README.md says how they were checked and how to renew them)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from orchestrator.contracts import decode
from orchestrator.contracts.modellog import DataNotice
from orchestrator.contracts.records import SourceOffset
from orchestrator.core.datagate import DataGate, DataGateSpec, RecordCount, VolumeDrift
from orchestrator.core.decision import GateInfo, decision_id
from orchestrator.core.effects import Decided
from orchestrator.core.engine import EventTimeEngine
from orchestrator.core.policy import DatasetSpec
from tests import factories
from tests.unit.golden_support import golden_decision
from tests.unit.modelgate_support import gate, update

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_decision_id_is_sha256_of_the_canonical_five_tuple() -> None:
    """SPEC §5: the id digests subject kind, subject, revision, policy digest and inputs digest,
    as canonical JSON (sorted keys, no spaces). Computed here by hand."""
    canonical = (
        b'["data_window","clicks/2026-11-23T10:00:00Z/PT1H",1,"sha256:policy","sha256:inputs"]'
    )
    by_hand = "sha256:" + hashlib.sha256(canonical).hexdigest()
    got = decision_id(
        "data_window", "clicks/2026-11-23T10:00:00Z/PT1H", 1, "sha256:policy", "sha256:inputs"
    )
    assert got == by_hand
    assert got == "sha256:b3661b7e5d22db41f7187dad7de6c29efa8568c321454db14806713c700a3956"


@pytest.mark.parametrize(
    "changed",
    [
        ("model_version", "clicks/2026-11-23T10:00:00Z/PT1H", 1, "sha256:policy", "sha256:inputs"),
        ("data_window", "clicks/2026-11-23T11:00:00Z/PT1H", 1, "sha256:policy", "sha256:inputs"),
        ("data_window", "clicks/2026-11-23T10:00:00Z/PT1H", 2, "sha256:policy", "sha256:inputs"),
        ("data_window", "clicks/2026-11-23T10:00:00Z/PT1H", 1, "sha256:policy2", "sha256:inputs"),
        ("data_window", "clicks/2026-11-23T10:00:00Z/PT1H", 1, "sha256:policy", "sha256:inputs2"),
    ],
    ids=["kind", "subject", "revision", "policy", "inputs"],
)
def test_every_part_of_the_id_counts(changed: tuple[str, str, int, str, str]) -> None:
    """Changing any one of the five parts changes the id."""
    base = decision_id(
        "data_window", "clicks/2026-11-23T10:00:00Z/PT1H", 1, "sha256:policy", "sha256:inputs"
    )
    assert decision_id(*changed) != base


def test_data_decisions_match_their_golden_records() -> None:
    """A window's first decision (promote) and its late revision (reject on record count, which
    supersedes it), every field of the audit record."""
    spec = DatasetSpec(
        "clicks", window_ms=3_600_000, out_of_orderness_ms=0, allowed_lateness_ms=1_800_000
    )
    gate_spec = DataGateSpec(
        gate=GateInfo("dataset/clicks", 3, "sha256:clicks-policy"),
        record_count=RecordCount(1, 250, "error"),
        volume_drift=VolumeDrift(2, 3.0, "warn"),
    )
    engine = EventTimeEngine(
        {"clicks": spec}, {"clicks": lambda: DataGate(gate_spec, "data.arrivals", "0.1.0")}
    )
    events = [
        factories.arrival("a1", event_time="2026-11-23T10:05:00Z", record_count=100),
        factories.arrival("a2", source="us", event_time="2026-11-23T10:20:00Z", record_count=50),
        factories.watermark("w1", watermark="2026-11-23T11:00:00Z"),
        factories.arrival("a3", event_time="2026-11-23T10:40:00Z", record_count=200),
    ]
    decisions = [
        e.decision
        for i, ev in enumerate(events)
        for e in engine.handle(decode(orjson.dumps(ev)), 2, 40 + i, AT)  # type: ignore[arg-type]
        if isinstance(e, Decided)
    ]
    assert [d.outcome for d in decisions] == ["promote", "reject"]
    for n, d in enumerate(decisions, 1):
        golden_decision(f"data-decision-{n}", d)


def test_model_decisions_match_their_golden_records() -> None:
    """A held version, its promotion when the data decision arrives, and a signed-off rollback
    of it by retraction: every field of the audit records."""
    g = gate()
    src = SourceOffset(topic="models.updates", partition=1, offset=7)
    trig = SourceOffset(topic="models.log", partition=1, offset=30)
    w = "clicks/2026-11-23T10:00:00Z/PT1H"
    out = g.handle(update("v1", trained_on=[w]), src, AT, trig)

    def notice(outcome: str, rev: int, offset: int) -> list[Any]:
        n = DataNotice(
            window_id=w,
            outcome=outcome,
            decision_id=f"sha256:data-{rev}",
            source=SourceOffset(topic="data.arrivals", partition=0, offset=offset),
        )
        return g.handle(
            n, n.source, AT, SourceOffset(topic="models.log", partition=1, offset=30 + rev)
        )

    out += notice("promote", 1, 41) + notice("reject", 2, 43)
    decisions = [e.decision for e in out if isinstance(e, Decided)]
    assert [d.outcome for d in decisions] == ["hold", "promote", "rollback"]
    for n, d in enumerate(decisions, 1):
        golden_decision(f"model-decision-{n}", d)


def test_command_decisions_match_their_golden_records() -> None:
    """Every path a command can take, each decision pinned whole (its checks' observed and
    expected values included): rollback, rollback to a named version, override promote and
    reject, and denied for authorization, signature, age, replayed nonce, unknown subject and
    no rollback target."""
    from orchestrator.contracts.events import CommandOverride, CommandRollback
    from orchestrator.core.access import signed
    from tests.unit.modelgate_support import KEY_ALICE, KEY_BOB, W1, W2, data

    g = gate()
    data(g, W1)
    data(g, W2)
    src = SourceOffset(topic="models.updates", partition=0, offset=3)
    g.handle(update("v1"), src, AT)
    g.handle(update("v2", auc=0.81), src, AT)
    g.handle(update("v3", auc=0.82, trained_on=[W2]), src, AT)
    received = int(AT.timestamp() * 1000)

    def rb(n: int, actor: str = "alice", key: bytes = KEY_ALICE, **kw: Any) -> CommandRollback:
        cmd = CommandRollback(
            event_id=f"c{n}",
            model="churn",
            actor=actor,
            reason=f"reason {n}",
            issued_at=kw.pop("issued_at", AT),
            nonce=kw.pop("nonce", f"golden-nonce-{n:08d}"),
            signature="-",
            **kw,
        )
        return signed(cmd, key)

    def ov(n: int, subject: str, verdict: str) -> CommandOverride:
        cmd = CommandOverride(
            event_id=f"c{n}",
            subject=subject,
            outcome=verdict,
            actor="alice",
            reason=f"reason {n}",
            issued_at=AT,
            nonce=f"golden-nonce-{n:08d}",
            signature="-",
        )
        return signed(cmd, KEY_ALICE)

    commands: list[Any] = [
        rb(1),  # v3 -> v2
        rb(2, to_version="v3"),  # v2 -> v3 again
        rb(3, actor="bob", key=KEY_BOB),  # bob may roll back fraud only
        rb(4, key=b"not-alice-s-key"),
        rb(5, issued_at=AT - timedelta(minutes=16)),  # older than max_command_age
        rb(6, nonce="golden-nonce-00000001"),  # c1's nonce again
        ov(7, "churn:v9", "promote"),  # no such version
        ov(8, "churn:v3", "reject"),  # the champion forced out: v2 again
        ov(9, "churn:v1", "promote"),
        rb(10, to_version="v8"),  # no such version to roll back to
    ]
    decided = []
    for i, cmd in enumerate(commands):
        trig = SourceOffset(topic="models.log", partition=0, offset=100 + i)
        csrc = SourceOffset(topic="commands", partition=0, offset=i)
        decided += [
            e.decision for e in g.handle(cmd, csrc, AT, trig, received) if isinstance(e, Decided)
        ]
    assert [(d.subject.id, d.outcome) for d in decided] == [
        ("c1", "rollback"),
        ("c2", "rollback"),
        ("c3", "denied"),
        ("c4", "denied"),
        ("c5", "denied"),
        ("c6", "denied"),
        ("c7", "denied"),
        ("churn:v3", "override"),
        ("churn:v1", "override"),
        ("c10", "denied"),
    ]
    for n, d in enumerate(decided, 1):
        golden_decision(f"command-decision-{n}", d)
