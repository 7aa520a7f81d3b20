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

    def restore(self, entries: list[tuple[str, Any]]) -> EventTimeEngine:
        return self.inner.restore(entries)

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
    shell: Shell[Any] = Shell("t", lg)
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
    shell: Shell[Any] = Shell("t", logic())
    shell.start(TP)
    shell.apply_batch(TP, recs[:half], NOW)
    (cp,) = shell.take_checkpoint()
    assert cp.puts[-1] == (POSITION_KEY.encode(), str(half).encode())
    assert cp.position == half
    assert shell.take_checkpoint() == []  # nothing changed since
    changelog = {k.decode(): orjson.loads(v) for k, v in cp.puts}
    for k in cp.deletes:
        changelog.pop(k.decode(), None)
    again: Shell[Any] = Shell("t", logic())
    again.restore(TP, changelog)
    assert again.apply_batch(TP, recs[half:], NOW) == shell.apply_batch(TP, recs[half:], NOW)


def test_records_below_the_position_are_not_handled_again() -> None:
    """Re-delivered records (below the restored position) produce nothing."""
    recs = records(scenario.events())
    shell: Shell[Any] = Shell("t", logic())
    shell.start(TP)
    first = shell.apply_batch(TP, recs, NOW)
    assert first and shell.apply_batch(TP, recs, NOW) == []


class ScopedFaulty(Faulty):
    """Faulty, with the logic's scopes: a failed record rebuilds only its dataset."""

    def scope(self, key: str) -> str:
        return self.inner.scope(key)

    def record_scope(self, record: Any) -> str | None:
        return self.inner.record_scope(record)

    def rebuild(self, engine: EventTimeEngine, scope: str, entries: list[Any]) -> None:
        self.rebuilt.append((scope, len(entries)))
        self.inner.rebuild(engine, scope, entries)

    rebuilt: list[tuple[str, int]]


def test_a_failing_record_costs_a_rebuild_of_its_dataset_only() -> None:
    """With scopes, the record that raised rolls back only the dataset it is keyed by: the
    other datasets' state is the very same objects, nothing of theirs is rebuilt, and the
    outputs are what the same input without that record produces."""
    events = scenario.events()
    clicks = next(i for i, e in enumerate(events) if e["dataset"] == "clicks" and i > 3)
    bad = {**events[clicks], "event_id": "boom"}
    with_bad = [*events[: clicks + 1], bad, *events[clicks + 1 :]]
    skipped = [*events[: clicks + 1], {"dataset": "clicks", "x": 1}, *events[clicks + 1 :]]
    lg = ScopedFaulty(logic())
    lg.rebuilt = []
    shell: Shell[Any] = Shell("t", lg)
    shell.start(TP)
    recs = records(with_bad)
    shell.apply_batch(TP, recs[: clicks + 1], NOW)
    others = {n: w for n, w in shell.engines[TP].datasets.items() if n != "clicks"}
    got = shell.apply_batch(TP, recs[clicks + 1 :], NOW)
    assert [scope for scope, _ in lg.rebuilt] == ["clicks"]
    for name, windows in others.items():
        assert shell.engines[TP].datasets[name] is windows
    want, _ = run(logic(), records(skipped))
    before, _ = run(logic(), records(skipped[: clicks + 1]))
    assert [o for o in got if o.role != "dlq"] == [
        o for o in want[len(before) :] if o.role != "dlq"
    ]


def test_an_output_too_large_for_its_topic_is_refused_not_sent() -> None:
    """An output larger than its topic takes (here: data.windows limited to 600 bytes) is
    never handed out: the record that made it goes to the dlq as E_OUTPUT_TOO_LARGE, its
    state changes are rolled back, and the partition moves on."""
    recs = records(scenario.events())
    lg = logic()
    shell: Shell[Any] = Shell("t", lg, limits={"windows": 600, "dlq": 2**21})
    shell.start(TP)
    out = shell.apply_batch(TP, recs, NOW)
    refused = [orjson.loads(o.value) for o in out if o.role == "dlq" and b"E_OUTPUT" in o.value]
    assert refused and all(r["code"] == "E_OUTPUT_TOO_LARGE" for r in refused)
    assert "at most 600" in refused[0]["message"]
    assert not [o for o in out if o.role == "windows"]
    assert shell.engines[TP].position == len(recs)


def test_staged_size_is_what_the_checkpoint_would_write() -> None:
    """A key put again replaces its value in the staged size (a window rewritten at every
    arrival counts once), a delete takes its put back out: the early checkpoint fires on the
    bytes a checkpoint would write, not on every rewrite since the last one."""
    shell: Shell[Any] = Shell("t", logic())
    shell.start(TP)
    shell.apply_batch(TP, records(scenario.events()), NOW)
    # the position's few bytes are not counted
    written = sum(len(k) + len(v) for k, v in shell.dirty[TP].puts.items() if k != POSITION_KEY)
    assert shell.dirty_size() == written
    (cp,) = shell.take_checkpoint()
    assert sum(len(k) + len(v) for k, v in cp.puts[:-1]) == written
    assert shell.dirty_size() == 0
