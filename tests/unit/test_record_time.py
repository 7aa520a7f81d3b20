"""Whose time a record carries (SPEC §5, trust boundary): the sender's time is never taken for
the broker's, a record without a usable time never skips a check, and the router hands the
dlq the bytes it received."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.modellog import parse_entry, received_bytes
from orchestrator.pipeline.build import Logics
from orchestrator.pipeline.records import Rec
from orchestrator.pipeline.recordtime import (
    CREATE_TIME,
    LOG_APPEND_TIME,
    BrokerTime,
    ProducerTime,
    RecordedProducerTime,
)
from orchestrator.policies import Policies
from orchestrator.simulate import EXAMPLE_KEYS
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
CATALOG = Catalog.load(ROOT / "topics")
POLICIES = Policies.load(ROOT / "gates")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


def arrival_rec(ts: int, kind: int, offset: int = 0, **fields: Any) -> Rec:
    event = factories.arrival("a1", event_time="2026-11-23T11:30:00Z", **fields)
    return Rec("data.arrivals", 0, offset, b"clicks", orjson.dumps(event), ts, kind)


def fate(logics: Logics, rec: Rec) -> tuple[str, str | None]:
    applied = logics.eventtime.apply(logics.eventtime.new_engine(), rec, NOW)
    return applied.fate, applied.code


@pytest.mark.parametrize(
    ("ts", "kind", "want"),
    [
        (NOW_MS, LOG_APPEND_TIME, ("accepted", None)),
        (NOW_MS, CREATE_TIME, ("dlq", "E_UNTRUSTED_TIME")),  # the sender chose it
        (-1, CREATE_TIME, ("dlq", "E_UNTRUSTED_TIME")),  # no time at all
        (-1, LOG_APPEND_TIME, ("dlq", "E_UNTRUSTED_TIME")),
    ],
)
def test_broker_time_counts_only_when_the_broker_stamped_it(
    ts: int, kind: int, want: tuple[str, str | None]
) -> None:
    """record_time=broker: an arrival is judged only against a LogAppendTime stamp; one whose
    time its sender set, or that has none, is refused (E_UNTRUSTED_TIME) and changes nothing."""
    assert fate(Logics(POLICIES, CATALOG), arrival_rec(ts, kind)) == want


def test_a_far_future_watermark_without_broker_time_cannot_close_a_dataset() -> None:
    """The attack from the trust-boundary review: watermarks of year 9999 from both required
    sources, sent with record time -1 (or any sender time): refused, the dataset stays open."""
    logics = Logics(POLICIES, CATALOG)
    engine = logics.eventtime.new_engine()
    for i, (source, ts, kind) in enumerate(
        [("eu", -1, LOG_APPEND_TIME), ("us", -1, CREATE_TIME), ("eu", 253402300799000, 0)]
    ):
        wm = factories.watermark(f"w{i}", source=source, watermark="9999-12-31T23:59:59Z")
        rec = Rec("data.arrivals", 0, i, b"clicks", orjson.dumps(wm), ts, kind)
        applied = logics.eventtime.apply(engine, rec, NOW)
        assert (applied.fate, applied.code) == ("dlq", "E_UNTRUSTED_TIME")
    later = arrival_rec(NOW_MS, LOG_APPEND_TIME, offset=9)
    assert logics.eventtime.apply(engine, later, NOW).fate == "accepted"


@pytest.mark.parametrize(
    ("ts", "want"),
    [
        (NOW_MS, ("accepted", None)),
        (NOW_MS + 300_000, ("accepted", None)),  # at the skew: still the sender's time
        (NOW_MS + 300_001, ("dlq", "E_UNTRUSTED_TIME")),  # ahead of the worker's clock
        (-1, ("dlq", "E_UNTRUSTED_TIME")),
    ],
)
def test_producer_time_is_bounded_by_the_worker_s_clock(
    ts: int, want: tuple[str, str | None]
) -> None:
    """record_time=producer (the opt-in): the sender's time counts, but never further ahead of
    the worker's clock than record_time_skew, and a record without one is refused."""
    logics = Logics(POLICIES, CATALOG, record_time=ProducerTime(300_000))
    assert fate(logics, arrival_rec(ts, CREATE_TIME)) == want


def test_replay_takes_the_worker_s_clock_refusals_from_the_dlq() -> None:
    """Replaying a producer-time run: a record the dlq says the worker's clock refused is
    refused again, whatever replay's own clock says; others are judged by their time."""
    refused = RecordedProducerTime({("data.arrivals", 0, 4)})
    logics = Logics(POLICIES, CATALOG, record_time=refused)
    assert fate(logics, arrival_rec(NOW_MS, CREATE_TIME, offset=4)) == ("dlq", "E_UNTRUSTED_TIME")
    assert fate(logics, arrival_rec(NOW_MS, CREATE_TIME, offset=5)) == ("accepted", None)


def rollback_rec(issued: datetime, ts: int, kind: int, offset: int = 0) -> Rec:
    from orchestrator.commands import build_rollback

    cmd = build_rollback(POLICIES, "churn", "alice", "test", EXAMPLE_KEYS["alice"])
    cmd = cmd.model_copy(update={"issued_at": issued.isoformat().replace("+00:00", "Z")})
    from orchestrator.core.access import signed

    cmd = signed(cmd, EXAMPLE_KEYS["alice"])
    return Rec("commands", 0, offset, b"churn", orjson.dumps(cmd.model_dump(mode="json")), ts, kind)


@pytest.mark.parametrize(
    ("times", "kind", "want"),
    [
        (BrokerTime(), LOG_APPEND_TIME, NOW_MS),
        (BrokerTime(), CREATE_TIME, None),  # the sender's time: none the worker trusts
        (ProducerTime(300_000), CREATE_TIME, NOW_MS + 42),  # the worker's clock, not the record's
    ],
)
def test_the_router_writes_the_time_a_command_is_judged_by(
    times: Any, kind: int, want: Any
) -> None:
    """Each models.log entry carries the time its command is judged against: the broker's stamp
    (record_time=broker; none if the sender set it), or the worker's clock when it read it
    (record_time=producer); a command record stamped with its own issued_at gains nothing."""
    logics = Logics(POLICIES, CATALOG, record_time=times)
    old = NOW - timedelta(days=30)
    rec = rollback_rec(old, int(old.timestamp() * 1000) if kind == CREATE_TIME else NOW_MS, kind)
    now = NOW + timedelta(milliseconds=42) if isinstance(times, ProducerTime) else NOW
    (out,) = logics.router.apply(logics.router.new_engine(), rec, now).outputs
    entry = parse_entry(out.value)
    assert getattr(entry, "timestamp", "x") == want
    assert received_bytes(out.value or b"") == rec.value


def test_an_unknown_model_goes_to_the_dlq_from_the_router_with_the_bytes_sent() -> None:
    """An update for a model no policy declares is refused by the router (E_UNKNOWN_MODEL) and
    its dlq envelope holds the record's bytes exactly as they were sent (spaces and order)."""
    logics = Logics(POLICIES, CATALOG)
    sent = b'{ "type": "model.update", "v": 1, "event_id": "u1", "model": "nope", "version": "v1",'
    sent += b' "artifact_uri": "s3://m", "artifact_digest": "d", "metrics": {}, "trained_on": [] }'
    rec = Rec("models.updates", 0, 0, b"nope", sent, NOW_MS, LOG_APPEND_TIME)
    applied = logics.router.apply(logics.router.new_engine(), rec, NOW)
    (out,) = applied.outputs
    envelope = orjson.loads(out.value or b"")
    assert (applied.code, out.role, envelope["code"]) == (
        "E_UNKNOWN_MODEL",
        "dlq",
        "E_UNKNOWN_MODEL",
    )
    assert base64.b64decode(envelope["original"]) == sent


def test_a_model_gate_refusal_hands_the_dlq_the_bytes_the_router_received() -> None:
    """A refusal at the model gate (here a reused event id with other content) carries the
    bytes the router received, not a re-encoding of the event."""
    logics = Logics(POLICIES, CATALOG)
    first = factories.model_update("u1", version="v1")
    again = {**first, "version": "v2"}
    sent = orjson.dumps(again, option=orjson.OPT_INDENT_2)
    engine, router = logics.models.new_engine(), logics.router.new_engine()
    for offset, value in enumerate([orjson.dumps(first), sent]):
        rec = Rec("models.updates", 0, offset, b"churn", value, NOW_MS, LOG_APPEND_TIME)
        (entry,) = logics.router.apply(router, rec, NOW).outputs
        log = Rec("models.log", 0, offset, entry.key, entry.value, NOW_MS, LOG_APPEND_TIME)
        applied = logics.models.apply(engine, log, NOW)
    assert applied.code == "E_DUPLICATE_CONFLICT"
    (dlq,) = [o for o in applied.outputs if o.role == "dlq"]
    envelope = orjson.loads(dlq.value or b"")
    assert base64.b64decode(envelope["original"]) == sent
    assert (envelope["topic"], envelope["offset"]) == ("models.updates", 1)
