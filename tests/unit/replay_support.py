"""Topics in memory for the replay tests: the scenario's arrivals over partitions, a few model
inputs, models.log as the worker writes it, and audit.decisions holding what it decides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from orchestrator.catalog.topics import Catalog
from orchestrator.kafka.read import TimedRecord
from orchestrator.pipeline.build import Logics
from orchestrator.policies import Policies
from orchestrator.replay import (
    LogEntry,
    MemorySource,
    Range,
    Report,
    derive_data,
    derive_models,
    replay,
)
from orchestrator.replay.derive import route
from tests import factories, scenario
from tests.conftest import ROOT

#: broker timestamps of the records: after the scenario's event times (none is from the future)
APPENDED_MS = 1_795_478_400_000  # 2026-11-24T00:00:00Z


def partitions(n: int, clicks: int = 0, others: int = 1) -> dict[int, list[TimedRecord]]:
    """The scenario's events spread over n partitions by dataset, plus one undecodable record."""
    data: dict[int, list[TimedRecord]] = {p: [] for p in range(n)}
    for i, ev in enumerate(scenario.events()):
        p = (clicks if ev["dataset"] == "clicks" else others) % n
        data[p].append((len(data[p]), ev["dataset"].encode(), orjson.dumps(ev), APPENDED_MS + i))
    data[0].append((len(data[0]), b"clicks", b"{not json", APPENDED_MS + 9999))
    return data


def src(data: dict[int, list[TimedRecord]]) -> MemorySource:
    """The partitions as replay reads them, in small chunks (so that chunk edges are crossed)."""
    return MemorySource({"data.arrivals": data}, chunk=3)


def model_inputs() -> tuple[list[TimedRecord], list[TimedRecord]]:
    """A few `models.updates` records (two models) and one `commands` record."""
    updates = [
        (i, b"churn", orjson.dumps(factories.model_update(f"m{i}", version=f"v{i}")), APPENDED_MS)
        for i in range(3)
    ] + [(3, b"fraud", orjson.dumps(factories.model_update("m3", "fraud")), APPENDED_MS)]
    commands = [(0, b"churn", orjson.dumps(factories.rollback()), APPENDED_MS)]
    return updates, commands


def expected() -> list[LogEntry]:
    """What the worker writes to models.log for the scenario and a few model inputs."""
    policies = Policies.load(ROOT / "gates")
    logics = Logics(policies, Catalog.load(ROOT / "topics"))
    data = derive_data(logics, src(partitions(2)), Range(), processes=1)
    updates, commands = model_inputs()
    routed = route(
        logics, MemorySource({"models.updates": {0: updates}, "commands": {0: commands}})
    )
    assert len(routed) == 5 and len(data.log) >= 4  # the premise: both kinds are there
    return routed + data.log


def written(entries: list[LogEntry]) -> dict[int, list[TimedRecord]]:
    """The entries as the log holds them: by model, one partition each, in order."""
    log: dict[int, list[TimedRecord]] = {0: [], 1: []}
    for e in entries:
        p = 0 if e.key == b"churn" else 1
        log[p].append((len(log[p]), e.key, e.value, APPENDED_MS))
    return log


def topics(tamper: Any = None) -> dict[str, dict[int, list[TimedRecord]]]:
    """The input topics, models.log as the worker writes it, and audit.decisions holding what
    the worker decides from them (`tamper` may change the recorded decisions first)."""
    policies = Policies.load(ROOT / "gates")
    arrivals = partitions(2)
    log = written(expected())
    inputs = MemorySource({"data.arrivals": arrivals, "models.log": log}, chunk=4)
    logics = Logics(policies, Catalog.load(ROOT / "topics"))
    data = derive_data(logics, inputs, Range(), processes=1)
    models = derive_models(logics, inputs, Range())
    decisions = data.decisions + models.decisions
    assert {d["subject"]["kind"] for d in decisions} >= {"data_window", "model_version"}
    if tamper is not None:
        decisions = tamper(decisions)
    audit = {
        0: [(i, None, orjson.dumps(d), APPENDED_MS) for i, d in enumerate(decisions)],
    }
    updates, commands = model_inputs()
    return {
        "data.arrivals": arrivals,
        "models.log": log,
        "models.updates": {0: updates},
        "commands": {0: commands},
        "audit.decisions": audit,
    }


def updates_first(
    gates: Path, updates: list[TimedRecord], first: int, tamper: Any = None
) -> dict[str, dict[int, list[TimedRecord]]]:
    """The scenario's arrivals and `models.updates` under the policies of `gates`: models.log as
    the worker writes it (the first `first` updates, then the data gate's notices, then the
    rest), and audit.decisions holding what it decides (`tamper` may change them first)."""
    policies = Policies.load(gates)
    arrivals = partitions(2)
    logics = Logics(policies, Catalog.load(ROOT / "topics"))
    data = derive_data(logics, MemorySource({"data.arrivals": arrivals}), Range(), processes=1)
    routed = route(logics, MemorySource({"models.updates": {0: updates}}))
    log = written(routed[:first] + data.log + routed[first:])
    models = derive_models(logics, MemorySource({"models.log": log}), Range())
    decisions = data.decisions + models.decisions
    if tamper is not None:
        decisions = tamper(decisions)
    return {
        "data.arrivals": arrivals,
        "models.log": log,
        "models.updates": {0: updates},
        "commands": {0: []},
        "audit.decisions": {
            0: [(i, None, orjson.dumps(d), APPENDED_MS) for i, d in enumerate(decisions)]
        },
    }


def replay_of(gates: Path, data: dict[str, dict[int, list[TimedRecord]]]) -> Report:
    """`replay` over topics in memory (small chunks), under the policies of `gates`."""
    return replay(
        MemorySource(data, chunk=4),
        Catalog.load(ROOT / "topics"),
        Policies.load(gates),
        {},
        Range(),
        processes=1,
    )
