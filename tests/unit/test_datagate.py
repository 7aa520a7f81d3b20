"""The data gate: each check and code, outcomes, supersedes, deterministic decision ids."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from orchestrator.contracts import decode
from orchestrator.core.datagate import (
    DataGate,
    DataGateSpec,
    Fingerprint,
    RecordCount,
    VolumeDrift,
)
from orchestrator.core.decision import GateInfo
from orchestrator.core.effects import Decided, Notified, WindowFired
from orchestrator.core.engine import EventTimeEngine
from orchestrator.core.policy import DatasetSpec
from tests import factories

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GATE = GateInfo("dataset/clicks", 3, "sha256:policy")
SPEC = DatasetSpec(
    "clicks", window_ms=3_600_000, out_of_orderness_ms=0, allowed_lateness_ms=3_600_000
)


def gate_spec(**kw: object) -> DataGateSpec:
    return DataGateSpec(gate=GATE, **kw)  # type: ignore[arg-type]


def run(spec: DataGateSpec, arrivals: list[tuple[str, str, str, int, str | None]]) -> list[Decided]:
    """Arrivals (id, source, time, count, fingerprint); returns every decision in order."""
    engine = EventTimeEngine(
        {"clicks": SPEC}, {"clicks": lambda: DataGate(spec, "data.arrivals", "test")}
    )
    out: list[Decided] = []
    for i, (eid, src, t, n, fp) in enumerate(arrivals):
        extra = {"schema_fingerprint": fp} if fp else {}
        event = decode(
            orjson.dumps(
                factories.arrival(
                    eid, source=src, event_time=f"2026-11-23T{t}Z", record_count=n, **extra
                )
            )
        )
        out.extend(e for e in engine.handle(event, 0, i, AT) if isinstance(e, Decided))  # type: ignore[arg-type]
    return out


def closing(t: str = "11:00:00") -> tuple[str, str, str, int, str | None]:
    return ("close-" + t, "eu", t, 100, "fp")


@pytest.mark.parametrize(
    ("spec", "arrivals", "outcome", "check", "code"),
    [
        (
            gate_spec(required_sources=frozenset({"eu", "us"})),
            [("a", "eu", "10:00:00", 5, None), closing()],
            "reject",
            "completeness",
            "E_MISSING_SOURCE",
        ),
        (
            gate_spec(required_sources=frozenset({"eu"}), completeness_severity="warn"),
            [("a", "us", "10:00:00", 5, None), closing()],
            "promote",
            "completeness",
            "E_MISSING_SOURCE",
        ),
        (
            gate_spec(record_count=RecordCount(10, 100, "error")),
            [("a", "eu", "10:00:00", 5, None), closing()],
            "reject",
            "record_count",
            "E_RECORD_COUNT",
        ),
        (
            gate_spec(record_count=RecordCount(10, 100, "error")),
            [("a", "eu", "10:00:00", 50, None), closing()],
            "promote",
            "record_count",
            "OK",
        ),
        (
            gate_spec(record_count=RecordCount(0, 10, "warn")),
            [("a", "eu", "10:00:00", 50, None), closing()],
            "promote",
            "record_count",
            "E_RECORD_COUNT",
        ),
        (
            gate_spec(schema_fingerprint=Fingerprint("fp", "error")),
            [("a", "eu", "10:00:00", 5, "other"), closing()],
            "reject",
            "schema_fingerprint",
            "E_SCHEMA_MISMATCH",
        ),
        (
            gate_spec(schema_fingerprint=Fingerprint("fp", "error")),
            [("a", "eu", "10:00:00", 5, "fp"), closing()],
            "promote",
            "schema_fingerprint",
            "OK",
        ),
    ],
)
def test_data_checks(
    spec: DataGateSpec,
    arrivals: list[tuple[str, str, str, int, str | None]],
    outcome: str,
    check: str,
    code: str,
) -> None:
    """Each check yields its code; a failed error check rejects, a failed warn check only records."""
    first = run(spec, arrivals)[0].decision
    assert first.outcome == outcome
    (c,) = [c for c in first.checks if c.name == check]
    assert c.code == code and c.passed == (code == "OK")
    assert (
        first.subject.kind == "data_window"
        and first.subject.id == "clicks/2026-11-23T10:00:00Z/PT1H"
    )
    assert first.gate.name == "dataset/clicks" and first.gate.digest == "sha256:policy"


def test_volume_drift_against_last_promoted() -> None:
    """A window whose total is beyond max_ratio of the mean of the last k promoted ones drifts."""
    spec = gate_spec(volume_drift=VolumeDrift(2, 3.0, "error"))
    decisions = run(
        spec,
        [
            ("a", "eu", "10:00:00", 100, None),
            ("b", "eu", "11:00:00", 120, None),
            ("c", "eu", "12:00:00", 1000, None),
            ("d", "eu", "13:00:00", 100, None),
            ("e", "eu", "14:00:00", 1, None),
        ],
    )
    outcomes = [(d.decision.subject.id[18:31], d.decision.outcome) for d in decisions]
    assert outcomes == [
        ("10:00:00Z/PT1", "promote"),
        ("11:00:00Z/PT1", "promote"),
        ("12:00:00Z/PT1", "reject"),
        ("13:00:00Z/PT1", "promote"),
    ]
    drift = next(c for c in decisions[2].decision.checks if c.name == "volume_drift")
    assert drift.code == "E_VOLUME_DRIFT" and drift.observed["mean"] == 110.0


def test_revision_supersedes_and_ids_are_deterministic() -> None:
    """Revision 2 names the decision it supersedes; the same inputs give the same decision ids."""
    spec = gate_spec(record_count=RecordCount(0, 100, "error"))
    arrivals = [("a", "eu", "10:00:00", 60, None), closing(), ("b", "eu", "10:30:00", 60, None)]
    first = run(spec, arrivals)
    assert [d.decision.outcome for d in first] == ["promote", "reject"]
    assert (
        first[1].decision.revision == 2
        and first[1].decision.supersedes == first[0].decision.decision_id
    )
    assert [d.decision.decision_id for d in run(spec, arrivals)] == [
        d.decision.decision_id for d in first
    ]
    other = run(
        DataGateSpec(
            gate=GateInfo("dataset/clicks", 4, "sha256:v4"),
            record_count=RecordCount(0, 100, "error"),
        ),
        arrivals,
    )
    assert (
        other[0].decision.decision_id != first[0].decision.decision_id
    )  # the policy digest is in the id


def test_decision_records_inputs_and_watermark() -> None:
    """The audit record carries arrival ids, the inputs digest, source offsets and the watermark."""
    engine = EventTimeEngine(
        {"clicks": SPEC}, {"clicks": lambda: DataGate(gate_spec(), "arr", "test")}
    )
    effects = []
    for i, e in enumerate(
        [
            factories.arrival("a", event_time="2026-11-23T10:10:00Z"),
            factories.arrival("b", event_time="2026-11-23T11:00:00Z"),
        ]
    ):
        effects += engine.handle(decode(orjson.dumps(e)), 2, 40 + i, AT)  # type: ignore[arg-type]
    fired = next(e for e in effects if isinstance(e, WindowFired)).manifest
    decision = next(e for e in effects if isinstance(e, Decided)).decision
    assert decision.inputs.event_ids == ["a"] and decision.inputs.digest == fired.inputs_digest
    assert [(o.topic, o.partition, o.offset) for o in decision.inputs.offsets] == [("arr", 2, 40)]
    assert decision.watermark == fired.watermark


def test_every_decision_is_followed_by_a_notice_to_each_model_of_its_dataset() -> None:
    """The data → model fan-out is a core effect: each data decision is followed by one
    `Notified` per model whose policy lists the dataset, in the models' order; a dataset no
    model lists notifies nobody."""
    spec = gate_spec(record_count=RecordCount(10, 100, "error"))
    engine = EventTimeEngine(
        {"clicks": SPEC, "views": DatasetSpec("views", 3_600_000, 0, 3_600_000)},
        {
            "clicks": lambda: DataGate(spec, "data.arrivals", "test"),
            "views": lambda: DataGate(spec, "data.arrivals", "test"),
        },
        fanout={"clicks": ["churn", "ranker"], "views": []},
    )
    effects = []
    for i, (ds, eid, t, n) in enumerate(
        [
            ("clicks", "a", "10:00:00", 5),
            ("views", "b", "10:00:00", 50),
            ("clicks", "c", "11:30:00", 50),
            ("views", "d", "11:30:00", 50),
        ]
    ):
        event = decode(
            orjson.dumps(
                factories.arrival(eid, dataset=ds, event_time=f"2026-11-23T{t}Z", record_count=n)
            )
        )
        effects += engine.handle(event, 0, i, AT)  # type: ignore[arg-type]
    decided = [e for e in effects if isinstance(e, Decided)]
    assert [d.decision.subject.id.split("/")[0] for d in decided] == ["clicks", "views"]
    at = effects.index(decided[0])
    notices = effects[at + 1 : at + 3]
    assert [(n.model, n.window_id, n.outcome, n.decision_id) for n in notices] == [  # type: ignore[union-attr]
        (m, decided[0].decision.subject.id, "reject", decided[0].decision.decision_id)
        for m in ("churn", "ranker")
    ]
    assert sum(isinstance(e, Notified) for e in effects) == 2
