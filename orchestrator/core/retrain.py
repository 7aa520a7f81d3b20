"""Retraining triggers of the model gate (README "Retraining triggers"): every N promoted
windows, drift on a listed dataset, live degradation, a plateau of the primary metric. Each
request is an audited decision (kind `training`, outcome `retrain`) with its reason and
evidence, and at most one request per model is made per `debounce` of event time."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from orchestrator.contracts.events import ModelPerformance, ModelUpdate
from orchestrator.contracts.modellog import DataNotice, ModelInput
from orchestrator.contracts.records import AuditDecision, Check, TrainingRequested
from orchestrator.core.checks import check
from orchestrator.core.decision import make_decision
from orchestrator.core.digest import digest
from orchestrator.core.effects import Decided, Effect, TrainingRequest
from orchestrator.core.modelspec import Plateau, Retrain
from orchestrator.core.modelstate import META
from orchestrator.core.timeutil import parse_window_id, to_ms
from orchestrator.errors import E_LIVE_DEGRADED, E_PLATEAU, OK

if TYPE_CHECKING:
    from orchestrator.core.modelchecks import ModelChecks

Reason = Literal["every", "drift", "live", "plateau"]


def _end_ms(window_id: str) -> int | None:
    try:
        _, start, size = parse_window_id(window_id)
    except ValueError:
        return None
    return start + size


def request(
    mg: ModelChecks,
    reason: Reason,
    at_ms: int,
    checks: list[Check],
    windows: list[str],
    event_ids: list[str],
    decided_at: datetime,
) -> list[Effect]:
    """A training request with its decision, unless one was made less than `debounce` (event
    time) before `at_ms`."""
    r = mg.spec.retrain
    debounce = r.debounce_ms if r is not None else 0
    last = mg.retrain_at_ms
    if debounce and last is not None and at_ms < last + debounce:
        return []
    mg.retrain_at_ms = at_ms if last is None else max(last, at_ms)
    mg.requests += 1
    mg.changed.add((META, ""))
    model = mg.spec.model
    inputs = digest([reason, [c.model_dump(mode="json") for c in checks], windows, event_ids])
    decision = make_decision(
        kind="training",
        subject_id=model,
        revision=mg.requests,
        outcome="retrain",
        gate=mg.spec.gate,
        checks=checks,
        event_ids=event_ids,
        inputs_digest=inputs,
        offsets=[mg.source] if mg.source is not None else [],
        decided_at=decided_at,
        version=mg.version,
        trigger=mg.trigger,
        model=model,
    )
    # an `every` request keeps the id it always had (trainers dedupe on it)
    request_id = digest([model, windows]) if reason == "every" else digest([model, inputs])
    return [
        Decided(decision),
        TrainingRequest(
            TrainingRequested(
                request_id=request_id,
                model=model,
                windows=windows,
                policy=mg.spec.gate.name,
                policy_version=mg.spec.gate.version,
                reason=reason,
                decision_id=decision.decision_id,
                checks=checks,
            )
        ),
    ]


def every(mg: ModelChecks, windows: list[str], decided_at: datetime) -> list[Effect]:
    """`retrain_every` N promoted windows: these N."""
    ends = [e for e in map(_end_ms, windows) if e is not None]
    at_ms = max(ends, default=mg.retrain_at_ms or 0)
    evidence = check(
        "retrain.every",
        True,
        "warn",
        {"promoted_windows": windows},
        {"every": mg.spec.retrain_every},
        OK,
    )
    return request(mg, "every", at_ms, [evidence], windows, [], decided_at)


def after(
    mg: ModelChecks, item: ModelInput, effects: list[Effect], decided_at: datetime
) -> list[Effect]:
    """The requests what one models.log entry did asks for (none without `retrain_on`)."""
    r = mg.spec.retrain
    if r is None:
        return []
    out: list[Effect] = []
    if isinstance(item, DataNotice):
        out += _drift(mg, r, item, decided_at)
    if isinstance(item, ModelPerformance):
        out += _live(mg, r, item, effects, decided_at)
    if r.plateau is not None:
        # a version crowned by this entry, whatever it was (its update, the data decision it
        # waited for, a live interval, an override)
        crowned = [
            e.decision.champion_after
            for e in effects
            if isinstance(e, Decided)
            and e.decision.subject.kind == "model_version"
            and e.decision.outcome in ("promote", "override")
            and e.decision.champion_after is not None
            and e.decision.champion_after != e.decision.champion_before
        ]
        if crowned and crowned[-1] in mg.versions:
            out += _plateau(mg, r.plateau, mg.versions[crowned[-1]].update, decided_at)
    return out


def _drift(mg: ModelChecks, r: Retrain, notice: DataNotice, decided_at: datetime) -> list[Effect]:
    dataset = notice.window_id.rpartition("/")[0].rpartition("/")[0]
    if not notice.drift or dataset not in r.drift:
        return []
    at_ms = _end_ms(notice.window_id) or 0
    evidence = [c.model_copy(update={"name": f"{dataset}.{c.name}"}) for c in notice.drift]
    return request(mg, "drift", at_ms, evidence, [notice.window_id], [], decided_at)


def _live(
    mg: ModelChecks,
    r: Retrain,
    perf: ModelPerformance,
    effects: list[Effect],
    decided_at: datetime,
) -> list[Effect]:
    evidence: list[Check] = []
    if r.live:
        for e in effects:
            if isinstance(e, Decided):
                evidence += [c for c in e.decision.checks if c.code == E_LIVE_DEGRADED]
    if perf.version == mg.champion:
        for b in r.live_bounds:
            value = perf.metrics.get(b.metric)
            if value is None or perf.sample_count < b.min_samples or not b.outside(value):
                continue
            evidence.append(
                check(
                    f"live.{b.metric}",
                    False,
                    "warn",
                    {"version": perf.version, "value": value, "samples": perf.sample_count},
                    {"min": b.min, "max": b.max, "min_samples": b.min_samples},
                    E_LIVE_DEGRADED,
                )
            )
    if not evidence:
        return []
    at_ms = to_ms(perf.interval_end)
    return request(mg, "live", at_ms, evidence, [], [perf.event_id], decided_at)


def _plateau(
    mg: ModelChecks, p: Plateau, update: ModelUpdate, decided_at: datetime
) -> list[Effect]:
    primary = mg.spec.primary
    if primary is None:
        return []
    names = [n for n in mg.history.newest_first() if n in mg.versions][: p.last]
    values = [mg.versions[n].update.metrics.get(primary.name) for n in names]
    if len(names) < p.last or any(v is None for v in values):
        return []
    newest, oldest = values[0], values[-1]
    assert newest is not None and oldest is not None  # noqa: PT018 -- checked above
    gain = newest - oldest if primary.direction == "max" else oldest - newest
    if gain >= p.min_gain:
        return []
    evidence = check(
        "plateau",
        False,
        "warn",
        {"versions": names, primary.name: values, "gain": round(gain, 12)},
        {"last": p.last, "min_gain": p.min_gain},
        E_PLATEAU,
    )
    if update.event_time is not None:
        at_ms = to_ms(update.event_time)
    else:
        ends = [e for e in map(_end_ms, update.trained_on) if e is not None]
        at_ms = max(ends, default=mg.retrain_at_ms or 0)
    return request(mg, "plateau", at_ms, [evidence], [], [update.event_id], decided_at)


def reason_of(decision: AuditDecision) -> Reason | None:
    """The reason of a training decision, read from its evidence (None: not one)."""
    if decision.subject.kind != "training" or not decision.checks:
        return None
    name = decision.checks[0].name
    if name == "retrain.every":
        return "every"
    if name == "plateau":
        return "plateau"
    if ".drift." in name:
        return "drift"
    return "live"
