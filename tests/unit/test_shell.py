"""The shell around the pipeline (no IO): a failure is confined to its record, state changes
are staged for a checkpoint in the order a restore needs them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import TopicPartition

from orchestrator.core.engine import EventTimeEngine
from orchestrator.core.position import POSITION_KEY
from orchestrator.pipeline.eventtime import EventTimeLogic
from orchestrator.pipeline.records import Applied, Output, Rec
from orchestrator.pipeline.shell import Shell
from orchestrator.policies import Policies
from tests import scenario

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 25, tzinfo=UTC)
TP = TopicPartition("data.arrivals", 0)
APPENDED_MS = 1_795_478_400_000  # 2026-11-24T00:00:00Z


def logic() -> EventTimeLogic:
    policies = Policies.load(ROOT / "gates")
    return EventTimeLogic(
        policies.dataset_specs(),
        policies.data_gates("data.arrivals"),
        {"clicks": ["churn"]},
        "data.arrivals",
        1_048_588,
    )


class Faulty:
    """The real logic, except that the record carrying event id `boom` raises after the core
    already changed its state: a bug in the middle of handling one record."""

    def __init__(self, inner: EventTimeLogic) -> None:
        self.inner = inner
        self.dlq_limit = inner.dlq_limit

    def new_engine(self) -> EventTimeEngine:
        return self.inner.new_engine()

    def apply(self, engine: EventTimeEngine, record: Any, now: datetime) -> Applied:
        applied = self.inner.apply(engine, record, now)
        if b'"boom"' in (record.value or b""):
            raise RuntimeError("a bug")
        return applied


def records(events: list[dict[str, Any]]) -> list[Rec]:
    return [
        Rec("data.arrivals", 0, i, e["dataset"].encode(), orjson.dumps(e), APPENDED_MS + i)
        for i, e in enumerate(events)
    ]


def run(lg: Any, recs: list[Rec]) -> tuple[list[Output], Shell[Any]]:
    inner = lg.inner if isinstance(lg, Faulty) else lg
    shell: Shell[Any] = Shell("t", lg, restore=inner.restore)
    shell.start(TP)
    out: list[Output] = []
    for i in range(0, len(recs), 4):
        out += shell.apply_batch(TP, recs[i : i + 4], NOW)
    return out, shell


def test_a_failing_record_goes_to_the_dlq_and_the_partition_moves_on() -> None:
    """E_INTERNAL: the record that raised is in the dlq with the exception's type and message,
    and every other output is what the same input without that record produces."""
    events = scenario.events()
    bad = {**events[3], "event_id": "boom"}
    with_bad = [*events[:5], bad, *events[5:]]
    skipped = [*events[:5], {"dataset": "clicks", "not": "an event"}, *events[5:]]
    got, shell = run(Faulty(logic()), records(with_bad))
    want, _ = run(logic(), records(skipped))
    internal = [orjson.loads(o.value) for o in got if o.role == "dlq" and b"E_INTERNAL" in o.value]
    assert [(d["code"], d["offset"]) for d in internal] == [("E_INTERNAL", 5)]
    assert internal[0]["message"] == "RuntimeError: a bug"
    assert [o for o in got if o.role != "dlq"] == [o for o in want if o.role != "dlq"]
    assert [o for o in got if o.role != "dlq"], "the scenario must produce outputs"
    assert shell.engines[TP].position == len(with_bad)


def test_checkpoint_puts_end_with_the_position_and_deletes_come_apart() -> None:
    """What a checkpoint hands over: the changed keys, the position last, deletes separately;
    a restore from it continues exactly like the shell that wrote it."""
    events = scenario.events()
    recs = records(events)
    half = len(recs) // 2
    shell: Shell[Any] = Shell("t", logic(), restore=logic().restore)
    shell.start(TP)
    shell.apply_batch(TP, recs[:half], NOW)
    (cp,) = shell.take_checkpoint()
    assert cp.puts[-1] == (POSITION_KEY.encode(), str(half).encode())
    assert cp.position == half
    assert shell.take_checkpoint() == []  # nothing changed since
    changelog = {k.decode(): orjson.loads(v) for k, v in cp.puts}
    for k in cp.deletes:
        changelog.pop(k.decode(), None)
    again: Shell[Any] = Shell("t", logic(), restore=logic().restore)
    again.restore(TP, changelog)
    assert again.apply_batch(TP, recs[half:], NOW) == shell.apply_batch(TP, recs[half:], NOW)


def test_records_below_the_position_are_not_handled_again() -> None:
    """Re-delivered records (below the restored position) produce nothing."""
    recs = records(scenario.events())
    shell: Shell[Any] = Shell("t", logic(), restore=logic().restore)
    shell.start(TP)
    first = shell.apply_batch(TP, recs, NOW)
    assert first and shell.apply_batch(TP, recs, NOW) == []
