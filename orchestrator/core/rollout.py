"""Staged rollout (SPEC §4): a version that passes the gate serves as `challenger` beside the
champion; `model.performance` intervals of at least `min_samples` samples crown it after
`challenger_windows` good ones or reject it on one bad one, and guard the champion against live
degradation (rolled back to the newest earlier clean champion, `E_LIVE_DEGRADED`; with none to
fall back to it keeps serving, decided `hold` with `E_NO_ROLLBACK_TARGET` beside it).

What a decision here rests on is its evidence: the performance events (id, figure, samples,
interval, where they were read), the baseline and the guard, in its checks and its inputs.
Intervals that cannot count are ignored without a decision: fewer samples than `min_samples`,
no figure for the guard metric, a version that is neither champion nor challenger (unknown,
forgotten, rejected or superseded: its traffic is not the gate's concern any more), or an
interval that does not start at or after the end of the latest one counted for its version (the
same interval again under a fresh event id, an overlapping one, or one older than it: a version's
intervals count once each, in order, so a re-sent interval cannot help crown a challenger).
They are still deduped, and replay sees them in `models.log` like the live run did."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from orchestrator.contracts.events import ModelPerformance
from orchestrator.contracts.records import Check, SourceOffset
from orchestrator.core.checks import check
from orchestrator.core.effects import ChampionChanged, Effect, StatePut
from orchestrator.core.modelchecks import ModelChecks
from orchestrator.core.modelspec import Guard, Rollout, Version
from orchestrator.core.modelstate import SEP, VERSION
from orchestrator.core.timeutil import to_ms
from orchestrator.errors import E_CHALLENGER_REPLACED, E_LIVE_DEGRADED, E_NO_ROLLBACK_TARGET

#: what a `rollout` check expects when a version is not (or no longer) the challenger because
#: a newer one is
NEWEST = "the newest version that passed the gate is the challenger"


def _figure(perf: ModelPerformance, value: float, source: SourceOffset) -> dict[str, Any]:
    """One interval's evidence, as JSON (what state keeps and a decision records)."""
    return {
        "event_id": perf.event_id,
        "value": value,
        "sample_count": perf.sample_count,
        "interval_start": perf.interval_start.isoformat(),
        "interval_end": perf.interval_end.isoformat(),
        "source": source.model_dump(),
    }


def _guard(g: Guard) -> dict[str, Any]:
    return {"metric": g.metric, "direction": g.direction, "tolerance": g.tolerance}


def _shown(figures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Figures as a check shows them (where they were read is in the decision's offsets)."""
    return [{k: v for k, v in f.items() if k != "source"} for f in figures]


def enter(mg: ModelChecks, name: str, checks: list[Check], at: datetime) -> list[Effect]:
    """`name` passed the gate under a staged rollout: it becomes the challenger (replacing
    any earlier one, which is rejected), or champion outright when there is none to stage
    against (nothing serves, nothing to compare with). A version older than the challenger
    (one held until its lineage cleared, by arrival order on models.log) does not replace it:
    it is rejected, superseded by the newer challenger."""
    r = mg.spec.rollout
    assert r is not None
    champ = mg.champion
    if champ is None:
        decided = mg.decide(name, "promote", checks, at, "promote", before=None, after=name)
        return [decided, ChampionChanged(mg.spec.model, name, decided.decision.decision_id)]
    effects: list[Effect] = []
    old = mg.challenger
    if old is not None and old != name:
        if mg.versions[old].seq > mg.versions[name].seq:
            superseded = check(
                "rollout", False, "error", {"superseded_by": old}, NEWEST, E_CHALLENGER_REPLACED
            )
            return [
                mg.decide(
                    name, "reject", [*checks, superseded], at, "reject", before=champ, after=champ
                )
            ]
        replaced = check(
            "rollout", False, "error", {"replaced_by": name}, NEWEST, E_CHALLENGER_REPLACED
        )
        mg.versions[old].good = []
        effects.append(
            mg.decide(old, "reject", [replaced], at, "reject", before=champ, after=champ)
        )
    stage = check(
        "rollout",
        True,
        "error",
        {"stage": "challenger"},
        {
            "challenger_windows": r.challenger_windows,
            "min_samples": r.min_samples,
            "guard": _guard(r.guard),
        },
        "OK",
    )
    effects.append(
        mg.decide(name, "promote", [*checks, stage], at, "challenge", before=champ, after=champ)
    )
    return effects


def counts(r: Rollout, perf: ModelPerformance) -> bool:
    """An interval that can count: at least `min_samples` samples and a figure for the guard
    metric. Whether it does is the gate's state to say (its version champion or challenger,
    the interval after those already counted for it: `in_order`); the shell reads the
    outcome from the gate's effects with `counted`."""
    return perf.sample_count >= r.min_samples and r.guard.metric in perf.metrics


def in_order(v: Version, perf: ModelPerformance) -> bool:
    """`perf` starts at or after the end of the latest interval counted for its version, and is
    not that interval again (an empty interval has its end at its start): it overlaps none
    counted before. The latest counted figure (`Version.last`) is the only memory this needs,
    so the rule costs no state of its own."""
    last = v.last
    if last is None:
        return True
    start, end = to_ms(perf.interval_start), to_ms(perf.interval_end)
    last_start = to_ms(datetime.fromisoformat(last["interval_start"]))
    last_end = to_ms(datetime.fromisoformat(last["interval_end"]))
    return start >= last_end and (start, end) != (last_start, last_end)


def counted(effects: Sequence[Effect], perf: ModelPerformance) -> bool:
    """Whether the gate counted `perf`, read from the effects of handling it (for the shell's
    metrics, so that they agree with the gate): an interval that counts becomes its version's
    latest live figure, in the version's changelog record."""
    key = f"v{SEP}{perf.model}{SEP}{perf.version}"
    for e in effects:
        if isinstance(e, StatePut) and e.key == key and isinstance(e.value, dict):
            last = e.value.get("lv")
            if isinstance(last, dict) and last.get("event_id") == perf.event_id:
                return True
    return False


def on_performance(
    mg: ModelChecks, perf: ModelPerformance, source: SourceOffset, at: datetime
) -> list[Effect]:
    """Effects of one live interval (none without a staged rollout)."""
    r = mg.spec.rollout
    v = mg.versions.get(perf.version)
    if r is None or v is None or not counts(r, perf):
        return []
    value = perf.metrics[r.guard.metric]
    champ = mg.champion
    if not (v.state == "challenger" or perf.version == champ) or not in_order(v, perf):
        return []
    figure = _figure(perf, value, source)
    v.last = figure
    mg.changed.add((VERSION, perf.version))
    if perf.version == champ:
        return _guard_champion(mg, r, champ, figure, at)
    return _judge_challenger(mg, r, perf.version, figure, at)


def _guard_champion(
    mg: ModelChecks, r: Rollout, champ: str, figure: dict[str, Any], at: datetime
) -> list[Effect]:
    """The champion's live figure against its own validation figure and the live figure of
    the version it would fall back to, where known: worse than either -> rollback. With no
    version to fall back to, the champion keeps serving (leaving nothing to serve would be
    worse) and the degradation is decided `hold`, with a failing `rollback_target` check as an
    operator's rollback would get (`E_NO_ROLLBACK_TARGET`), so it is audited and alerted."""
    own = mg.versions[champ].update.metrics.get(r.guard.metric)
    target = mg.fallback(champ)
    prev_fig = mg.versions[target].last if target is not None else None
    prev = prev_fig["value"] if prev_fig is not None else None
    value = figure["value"]
    worse_own = own is not None and r.guard.worse(value, own)
    worse_prev = prev is not None and r.guard.worse(value, prev)
    if not (worse_own or worse_prev):
        return []
    evidence = [figure] + ([prev_fig] if prev_fig is not None else [])
    degraded = check(
        "live_guard",
        False,
        "error",
        _shown([figure]),
        {
            **_guard(r.guard),
            "validation": own,
            "previous_champion": target if prev is not None else None,
            "previous_live": _shown([prev_fig])[0] if prev_fig is not None else None,
        },
        E_LIVE_DEGRADED,
    )
    if target is None:
        stuck = check(
            "rollback_target",
            False,
            "error",
            {"champion": champ, "target": None},
            "previous clean champion",
            E_NO_ROLLBACK_TARGET,
        )
        return [
            mg.decide(
                champ,
                "hold",
                [degraded, stuck],
                at,
                "keep",
                before=champ,
                after=champ,
                evidence=evidence,
            )
        ]
    decided = mg.decide(
        champ, "rollback", [degraded], at, "rollback", before=champ, after=target, evidence=evidence
    )
    mg.crown(target)
    return [decided, ChampionChanged(mg.spec.model, target, decided.decision.decision_id)]


def _judge_challenger(
    mg: ModelChecks, r: Rollout, name: str, figure: dict[str, Any], at: datetime
) -> list[Effect]:
    """The challenger's live figure against the champion's latest live figure (its own
    validation figure while the champion has none): worse -> reject; the N-th good -> crown."""
    v = mg.versions[name]
    champ = mg.champion
    champ_fig = mg.versions[champ].last if champ is not None else None
    against: dict[str, Any]
    if champ_fig is not None:
        base, against = champ_fig["value"], {"champion": champ, "live": _shown([champ_fig])[0]}
    else:
        base = v.update.metrics.get(r.guard.metric)
        against = {"champion": champ, "validation": base}
    good = base is None or not r.guard.worse(figure["value"], base)
    evidence = [*v.good, figure] + ([champ_fig] if champ_fig is not None else [])
    if not good:
        bad = check(
            "live_guard",
            False,
            "error",
            _shown([figure]),
            {**_guard(r.guard), **against},
            E_LIVE_DEGRADED,
        )
        v.good = []
        return [
            mg.decide(
                name, "reject", [bad], at, "reject", before=champ, after=champ, evidence=evidence
            )
        ]
    v.good.append(figure)
    if len(v.good) < r.challenger_windows:
        return []
    passed = check(
        "live_guard",
        True,
        "error",
        _shown(v.good),
        {**_guard(r.guard), **against, "challenger_windows": r.challenger_windows},
        "OK",
    )
    v.good = []
    decided = mg.decide(
        name, "promote", [passed], at, "promote", before=champ, after=name, evidence=evidence
    )
    return [decided, ChampionChanged(mg.spec.model, name, decided.decision.decision_id)]
