"""What every output topic must hold, derived by the pure pipeline from the input topics as the
broker has them, and the comparison with what the worker wrote.

For each output topic a record has an identity (what it is about) and a content (what it says,
wall-clock fields left out). Against the derivation:
- lost: an expected identity that is not there;
- conflicting: an identity whose content differs from the derivation (or two different ones);
- duplicated: an identity that is there more than once (allowed under at_least_once only);
- extra: an identity nobody derives.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import TopicPartition

from orchestrator.catalog.topics import Catalog
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.read import partitions_of, read_timed
from orchestrator.pipeline.build import Logics
from orchestrator.pipeline.records import Output, Rec
from orchestrator.pipeline.shell import Shell
from orchestrator.policies import Policies

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WALL_CLOCK = ("decided_at", "orchestrator_version", "at", "since")

OUTPUT_ROLES = ("windows", "late", "dlq", "audit", "model_log", "champions", "training")


def _identity(role: str, r: dict[str, Any]) -> Any:
    if role == "windows":
        return (r["window_id"], r["revision"])
    if role == "late":
        return (r["partition"], r["offset"])
    if role == "dlq":
        return (r["topic"], r["partition"], r["offset"], r["code"])
    if role == "audit":
        return (r["subject"]["id"], r["revision"])
    if role == "model_log":
        if r["kind"] == "data":
            return ("data", r["window_id"], r["decision_id"])
        s = r["source"]
        return ("event", s["topic"], s["partition"], s["offset"])
    if role == "champions":
        return r["decision_id"]
    return r["request_id"]  # training


def _content(r: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {k: v for k, v in r.items() if k not in WALL_CLOCK}, option=orjson.OPT_SORT_KEYS
    )


@dataclass
class TopicReport:
    expected: int = 0
    observed: int = 0
    lost: list[Any] = field(default_factory=list)
    conflicting: list[Any] = field(default_factory=list)
    duplicated: int = 0
    extra: list[Any] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "observed": self.observed,
            "lost": len(self.lost),
            "conflicting": len(self.conflicting),
            "duplicated": self.duplicated,
            "extra": len(self.extra),
            "examples": {
                "lost": self.lost[:3],
                "conflicting": self.conflicting[:3],
                "extra": self.extra[:3],
            },
        }


async def _read(conn: Connection, topic: str) -> dict[int, list[Rec]]:
    out = {}
    for p in await partitions_of(conn, topic):
        out[p] = [Rec(topic, p, *r) for r in await read_timed(conn, topic, p, 0, None)]
    return out


def _derive(logic: Any, inputs: dict[int, list[Rec]], limits: dict[str, int]) -> list[Output]:
    out: list[Output] = []
    for p, recs in sorted(inputs.items()):
        shell: Shell[Any] = Shell("oracle", logic, keep_changelog=False, limits=limits)
        tp = TopicPartition(recs[0].topic if recs else "", p)
        shell.start(tp)
        out += shell.apply_batch(tp, recs, EPOCH)
    return out


def compare(
    conn: Connection, catalog: Catalog, policies: Policies, keys: dict[str, bytes]
) -> dict[str, TopicReport]:
    """Derive every output topic from the inputs on the broker and compare (read_committed)."""
    return asyncio.run(_compare(conn, catalog, policies, keys))


async def _compare(
    conn: Connection, catalog: Catalog, policies: Policies, keys: dict[str, bytes]
) -> dict[str, TopicReport]:
    logics = Logics(policies, catalog, keys)
    et, router, ml = logics.eventtime, logics.router, logics.models
    arrivals_topic = catalog.name("arrivals")
    arrivals = await _read(conn, arrivals_topic)
    updates = await _read(conn, catalog.name("model_updates"))
    commands = await _read(conn, catalog.name("commands"))
    model_log = await _read(conn, catalog.name("model_log"))
    expected = _derive(et, arrivals, logics.limits)
    for inputs in (updates, commands):
        for p, recs in inputs.items():
            expected += _derive(router, {p: recs}, logics.limits)
    # The model gate is a function of models.log in the order it holds (the interleaving of
    # data notices and routed events is the worker's, and is itself checked above).
    expected += _derive(ml, model_log, logics.limits)

    reports: dict[str, TopicReport] = {}
    for role in OUTPUT_ROLES:
        want: dict[Any, bytes] = {}
        for o in expected:
            if o.role == role and o.value is not None:
                r = orjson.loads(o.value)
                want[_identity(role, r)] = _content(r)
        observed = model_log if role == "model_log" else await _read(conn, catalog.name(role))
        got: dict[Any, set[bytes]] = {}
        count: Counter[Any] = Counter()
        for recs in observed.values():
            for rec in recs:
                if rec.value is None:
                    continue
                r = orjson.loads(rec.value)
                ident = _identity(role, r)
                got.setdefault(ident, set()).add(_content(r))
                count[ident] += 1
        rep = TopicReport(expected=len(want), observed=sum(count.values()))
        rep.lost = sorted((i for i in want if i not in got), key=repr)
        rep.extra = sorted((i for i in got if i not in want), key=repr)
        rep.conflicting = sorted(
            (i for i, contents in got.items() if i in want and contents != {want[i]}), key=repr
        )
        rep.duplicated = sum(n - 1 for n in count.values() if n > 1)
        reports[role] = rep
    return reports


def summary(reports: dict[str, TopicReport]) -> dict[str, dict[str, Any]]:
    return {role: rep.as_dict() for role, rep in reports.items()}


def assert_sound(reports: dict[str, TopicReport], *, exactly_once: bool) -> None:
    """0 lost, 0 conflicting, 0 extra everywhere; 0 duplicated under exactly_once; and the
    workload must have produced something on the main topics (or this proves nothing)."""
    problems = {
        role: rep.as_dict()
        for role, rep in reports.items()
        if rep.lost or rep.conflicting or rep.extra or (exactly_once and rep.duplicated)
    }
    assert not problems, orjson.dumps(problems, option=orjson.OPT_INDENT_2, default=str).decode()
    for role in ("windows", "audit", "model_log"):
        assert reports[role].expected > 0, f"nothing expected on {role}: the workload is empty"
