"""Each audit decision's wire form is written straight from its fields (`decision_wire`): it must be byte for
byte what `encode(decision)` gives, whatever the decision holds. The decisions the gates make are
checked in test_golden (every data, model and command path pinned there goes through both)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.contracts.codec import encode
from orchestrator.contracts.records import AuditDecision, Check, Inputs, SourceOffset, Subject
from orchestrator.contracts.wire import decision_wire
from orchestrator.core.decision import GateInfo, make_decision
from tests.conftest import examples

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
TEXT = st.text(max_size=12)
TIMES = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
)
#: what a check's observed and expected values hold: JSON values, and the Python values the core
#: puts there before encoding (tuples, datetimes, infinities)
SCALARS = (
    st.none()
    | st.booleans()
    | INT64
    | st.floats(allow_nan=True, allow_infinity=True)
    | TEXT
    | TIMES
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(TEXT, inner, max_size=4)
    ),
    max_leaves=12,
)
OFFSETS = st.builds(SourceOffset.model_construct, topic=TEXT, partition=INT64, offset=INT64)
CHECKS = st.builds(
    Check.model_construct,
    name=TEXT,
    passed=st.booleans(),
    severity=st.sampled_from(["error", "warn"]),
    observed=VALUES,
    expected=VALUES,
    code=TEXT,
)
OPTIONAL_TEXT = st.none() | TEXT


@settings(**examples(300), deadline=None)  # type: ignore[arg-type]
@given(
    kind=st.sampled_from(["data_window", "model_version", "command", "training"]),
    subject=TEXT,
    revision=INT64,
    outcome=st.sampled_from(
        ["promote", "reject", "hold", "rollback", "override", "denied", "retrain"]
    ),
    gate=st.builds(GateInfo, TEXT, INT64, TEXT),
    checks=st.lists(CHECKS, max_size=4),
    event_ids=st.lists(TEXT, max_size=5),
    offsets=st.lists(OFFSETS, max_size=5),
    decided_at=TIMES,
    watermark=st.none() | TIMES,
    supersedes=OPTIONAL_TEXT,
    champion_before=OPTIONAL_TEXT,
    champion_after=OPTIONAL_TEXT,
    trigger=st.none() | OFFSETS,
    model=OPTIONAL_TEXT,
)
def test_the_wire_form_of_a_built_decision_is_its_encoding(**kw: Any) -> None:
    """As the gates build them (`make_decision`, models constructed without validation)."""
    d = make_decision(
        kind=kw["kind"],
        subject_id=kw["subject"],
        revision=kw["revision"],
        outcome=kw["outcome"],
        gate=kw["gate"],
        checks=kw["checks"],
        event_ids=kw["event_ids"],
        inputs_digest="sha256:inputs",
        offsets=kw["offsets"],
        decided_at=kw["decided_at"].astimezone(UTC),
        version="0.0.0",
        watermark=kw["watermark"] and kw["watermark"].astimezone(UTC),
        supersedes=kw["supersedes"],
        champion_before=kw["champion_before"],
        champion_after=kw["champion_after"],
        trigger=kw["trigger"],
        model=kw["model"],
    )
    assert decision_wire(d) == encode(d)


@settings(**examples(200), deadline=None)  # type: ignore[arg-type]
@given(
    checks=st.lists(
        st.fixed_dictionaries(
            {
                "name": TEXT,
                "passed": st.booleans(),
                "severity": st.sampled_from(["error", "warn"]),
                "code": TEXT,
            },
            optional={"observed": VALUES, "expected": VALUES},
        ),
        max_size=3,
    ),
    decided_at=TIMES,
    optional=st.fixed_dictionaries(
        {},
        optional={
            "watermark": TIMES,
            "supersedes": TEXT,
            "champion_before": TEXT,
            "champion_after": TEXT,
            "trigger": st.fixed_dictionaries({"topic": TEXT, "partition": INT64, "offset": INT64}),
            "model": TEXT,
        },
    ),
)
def test_the_wire_form_of_a_validated_decision_is_its_encoding(
    checks: list[dict[str, Any]], decided_at: datetime, optional: dict[str, Any]
) -> None:
    """As read back from the audit topic (validated models, any offset in their times)."""
    d = AuditDecision.model_validate(
        {
            "decision_id": "sha256:d",
            "subject": {"kind": "data_window", "id": "s"},
            "revision": 1,
            "outcome": "promote",
            "gate": {"name": "g", "version": 1, "digest": "sha256:g"},
            "checks": checks,
            "inputs": {"event_ids": ["a"], "digest": "sha256:i", "offsets": []},
            "decided_at": decided_at,
            "orchestrator_version": "0.0.0",
            **optional,
        }
    )
    assert decision_wire(d) == encode(d)


def test_values_json_has_no_form_for_are_written_alike() -> None:
    """Infinities and NaN (a ratio over an empty history) are null both ways; a None inside an
    observed value stays (only the decision's own None fields are left out)."""
    check = Check.model_construct(
        name="volume_drift",
        passed=False,
        severity="warn",
        observed={"ratio": math.inf, "nan": math.nan, "history": None},
        expected=None,
        code="E_DRIFT",
    )
    d = AuditDecision.model_construct(
        type="audit.decision",
        v=1,
        decision_id="sha256:d",
        subject=Subject.model_construct(kind="data_window", id="s"),
        revision=1,
        outcome="reject",
        gate=GateInfo("g", 1, "sha256:g").ref(),
        checks=[check],
        inputs=Inputs.model_construct(event_ids=[], digest="sha256:i", offsets=[]),
        watermark=None,
        supersedes=None,
        champion_before=None,
        champion_after=None,
        decided_at=datetime(2026, 11, 26, tzinfo=UTC),
        orchestrator_version="0.0.0",
        trigger=None,
        model=None,
    )
    wire = decision_wire(d)
    assert wire == encode(d)
    assert b'"observed":{"ratio":null,"nan":null,"history":null}' in wire
    assert b'"expected"' not in wire
