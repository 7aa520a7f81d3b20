"""The churn gate under a staged rollout, and the live intervals the rollout tests feed it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from orchestrator.contracts.events import ModelPerformance
from orchestrator.contracts.records import SourceOffset
from orchestrator.core.effects import ChampionChanged, Effect
from orchestrator.core.modelgate import ModelGate
from orchestrator.core.modelspec import Guard, Rollout
from tests.unit.modelgate_support import AT, SRC, W1, data, gate, outcome, update

N, K = 2, 100


def rgate(direction: str = "max", tolerance: float = 0.02) -> ModelGate:
    """The churn gate of modelgate_support with a staged rollout guarding auc."""
    g = gate()
    spec = replace(g.spec, rollout=Rollout(N, K, Guard("auc", direction, tolerance)))  # type: ignore[arg-type]
    return ModelGate(spec, g.access, "test")


HOUR0 = datetime(2026, 11, 23, 12, tzinfo=UTC)


def perf(
    eid: str, version: str, auc: float | None, samples: int = 1000, hour: int = 0
) -> ModelPerformance:
    """An interval of `version`: the `hour`-th hour from 2026-11-23T12:00Z (a version's
    intervals count once each, in order: give each of them its own hour)."""
    start = HOUR0 + timedelta(hours=hour)
    return ModelPerformance(
        event_id=eid,
        model="churn",
        version=version,
        interval_start=start,
        interval_end=start + timedelta(hours=1),
        metrics={} if auc is None else {"auc": auc},
        sample_count=samples,
    )


def psrc(offset: int) -> SourceOffset:
    return SourceOffset(topic="models.updates", partition=0, offset=100 + offset)


def feed(g: ModelGate, p: ModelPerformance, offset: int = 0) -> list[Effect]:
    return g.handle(p, psrc(offset), AT)


def champions(effects: list[Effect]) -> list[tuple[str | None, str | None]]:
    return [(e.version, e.challenger) for e in effects if isinstance(e, ChampionChanged)]


def staged(champion_auc: float = 0.8, challenger_auc: float = 0.81) -> ModelGate:
    """v1 champion (the first version: nothing to stage against), v2 its challenger."""
    g = rgate()
    data(g, W1)
    first = g.handle(update("v1", auc=champion_auc), SRC, AT)
    assert outcome(first) == ("promote",) and champions(first) == [("v1", None)]
    g.handle(update("v2", auc=challenger_auc), SRC, AT)
    assert (g.champion, g.challenger) == ("v1", "v2")
    return g


def crowned_v2(v1_live: float | None = None) -> ModelGate:
    g = staged()
    if v1_live is not None:
        feed(g, perf("p-c", "v1", v1_live), 0)
    feed(g, perf("p1", "v2", 0.84), 1)
    feed(g, perf("p2", "v2", 0.84, hour=1), 2)
    assert g.champion == "v2"
    return g
