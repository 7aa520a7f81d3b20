"""The churn model gate the model-gate tests share, and the inputs they feed it: model updates,
data notices and signed commands, all at one fixed time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from orchestrator.contracts.events import CommandOverride, CommandRollback, ModelUpdate
from orchestrator.contracts.modellog import DataNotice
from orchestrator.contracts.records import SourceOffset
from orchestrator.core.access import AccessSpec, Grant, signed
from orchestrator.core.decision import GateInfo
from orchestrator.core.effects import Decided, Effect
from orchestrator.core.modelgate import SEP, ModelGate, ModelGateSpec, PrimaryMetric, Threshold

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
#: the broker time of a command record read at AT
NOW = int(AT.timestamp() * 1000)
SRC = SourceOffset(topic="models.updates", partition=0, offset=0)
W1, W2, W3 = (f"clicks/2026-11-23T{h}:00:00Z/PT1H" for h in ("10", "11", "12"))
KEY_ALICE = b"example-key-alice-not-a-secret"
KEY_BOB = b"example-key-bob-not-a-secret"
AGE = 900_000  # the default max_command_age, PT15M
T = datetime(2026, 11, 23, 12, tzinfo=UTC)


def gate(direction: str = "max", retrain_every: int | None = None) -> ModelGate:
    spec = ModelGateSpec(
        gate=GateInfo("model/churn", 2, "sha256:churn"),
        model="churn",
        datasets=frozenset({"clicks"}),
        required_metrics=("auc", "logloss"),
        thresholds=(Threshold("auc", 0.7, None), Threshold("logloss", None, 0.6)),
        primary=PrimaryMetric("auc", "max", 0.005)
        if direction == "max"
        else PrimaryMetric("logloss", "min", 0.01),
        retrain_every=retrain_every,
    )
    access = AccessSpec(
        gate=GateInfo("access", 1, "sha256:access"),
        grants=frozenset(
            {
                Grant("alice", "rollback", "churn"),
                Grant("alice", "override", "churn"),
                Grant("bob", "rollback", "fraud"),
            }
        ),
        keys=(("alice", KEY_ALICE), ("bob", KEY_BOB)),
    )
    return ModelGate(spec, access, "test")


def update(
    version: str,
    auc: float = 0.8,
    logloss: float = 0.4,
    trained_on: list[str] | None = None,
    **metrics: float,
) -> ModelUpdate:
    return ModelUpdate(
        event_id=f"u-{version}",
        model="churn",
        version=version,
        artifact_uri=f"s3://m/{version}",
        artifact_digest="sha256:x",
        metrics={"auc": auc, "logloss": logloss, **metrics},
        trained_on=trained_on if trained_on is not None else [W1],
    )


def data(g: ModelGate, window: str, outcome: str = "promote", rev: int = 1) -> list[Effect]:
    notice = DataNotice(
        window_id=window, outcome=outcome, decision_id=f"d-{window}-{rev}", source=SRC
    )
    return g.handle(notice, SRC, AT)


def decisions(effects: list[Effect]) -> list[Any]:
    return [e.decision for e in effects if isinstance(e, Decided)]


def outcome(effects: list[Effect]) -> tuple[str, ...]:
    return tuple(d.outcome for d in decisions(effects))


def codes(effects: list[Effect]) -> list[str]:
    return [c.code for d in decisions(effects) for c in d.checks if not c.passed]


def rollback(
    actor: str = "alice", key: bytes = KEY_ALICE, model: str = "churn", **kw: Any
) -> CommandRollback:
    cmd = CommandRollback(
        event_id=f"c-{actor}-{model}-{len(kw)}",
        model=model,
        actor=actor,
        reason="bad",
        issued_at=AT,
        nonce=f"nonce-{actor}-{model}-{sorted(kw.items())}",
        signature="0",
        **kw,
    )
    return signed(cmd, key)


def override(subject: str, verdict: str, eid: str = "o1") -> CommandOverride:
    cmd = CommandOverride(
        event_id=eid,
        issued_at=AT,
        nonce=f"nonce-override-{eid}-xxxxxxxx",
        subject=subject,
        outcome=verdict,
        actor="alice",
        reason="r",
        signature="-",
    )
    return signed(cmd, KEY_ALICE)


def three_champions() -> Any:
    g = gate()
    for w in (W1, W2, W3):
        data(g, w)
    g.handle(update("v1", auc=0.80, trained_on=[W1]), SRC, AT)
    g.handle(update("v2", auc=0.81, trained_on=[W2]), SRC, AT)
    g.handle(update("v3", auc=0.82, trained_on=[W3]), SRC, AT)
    assert g.champion == "v3"
    return g


def rollback_at(issued: datetime, nonce: str, eid: str) -> CommandRollback:
    cmd = CommandRollback(
        event_id=eid,
        model="churn",
        actor="alice",
        reason="r",
        issued_at=issued,
        nonce=nonce,
        signature="-",
    )
    return signed(cmd, KEY_ALICE)


def restored(g: ModelGate, entries: dict[str, Any]) -> ModelGate:
    h = ModelGate(g.spec, g.access, g.version)
    for key, value in orjson.loads(orjson.dumps(entries)).items():
        kind, _, ident = key.split(SEP, 2)
        h.restore(kind, ident, value)
    h.settle()
    return h
