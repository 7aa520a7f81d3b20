"""`orchestrator simulate`: a seeded generator of realistic streams, in phases.

Data: several datasets and sources, arrivals out of order within the bound, late but allowed, too
late, exact and conflicting duplicates, source watermarks, malformed records. Models: versions
that pass, regress, precede their data (hold) and train on a window that is later retracted.
Live (models whose policy has a staged `rollout`): `model.performance` intervals that crown a
challenger, a champion whose live guard metric degrades (rolled back) and a challenger worse
than the champion (rejected). Commands: a signed rollback, a forged one and one by an actor
without the grant. The same seed always gives the same stream.

The phases are meant to be sent one after the other, each once the worker has decided the one
before (as `orchestrator demo` does): a live interval of a version the gate has not decided yet
counts for nothing.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from orchestrator.contracts.codec import to_jsonable
from orchestrator.contracts.events import CommandOverride, CommandRollback
from orchestrator.core.access import C, signed
from orchestrator.core.policy import DatasetSpec
from orchestrator.core.timeutil import format_rfc3339_ms, window_id
from orchestrator.policies import ModelPolicy, Policies
from orchestrator.simulate_drift import add_profiles, drift_phase

BASE_MS = 1_795_392_000_000  # 2026-11-23T00:00:00Z
#: live intervals (model.performance) start a day later, one hour each
LIVE_MS = BASE_MS + 86_400_000
LIVE_INTERVAL_MS = 3_600_000

#: Example HMAC keys for the demo and tests. Examples only: never use them for anything real.
EXAMPLE_KEYS = {
    "alice": b"example-key-alice-demo-only",
    "bob": b"example-key-bob-demo-only",
}


@dataclass
class Phase:
    name: str
    events: list[dict[str, Any]] = field(default_factory=list)
    malformed: list[tuple[bytes, bytes]] = field(default_factory=list)


def _sources(spec: DatasetSpec) -> list[str]:
    return sorted(spec.required_sources) or ["main"]


def _arrival(eid: str, dataset: str, source: str, et: int, n: int) -> dict[str, Any]:
    return {
        "type": "data.arrival",
        "v": 1,
        "event_id": eid,
        "dataset": dataset,
        "source": source,
        "event_time": format_rfc3339_ms(et),
        "uri": f"s3://lake/{dataset}/{eid}.parquet",
        "record_count": n,
        "checksum": f"sha256:{eid}",
        "schema_fingerprint": f"sha256:{dataset}-v1",
    }


def _watermark(eid: str, dataset: str, source: str, wm: int) -> dict[str, Any]:
    return {
        "type": "data.watermark",
        "v": 1,
        "event_id": eid,
        "dataset": dataset,
        "source": source,
        "watermark": format_rfc3339_ms(wm),
    }


def data_stream(
    specs: dict[str, DatasetSpec], rng: random.Random, windows: int
) -> dict[str, list[dict[str, Any]]]:
    """Per dataset, arrivals covering `windows` windows; the last window stays open."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, spec in sorted(specs.items()):
        timed: list[tuple[int, dict[str, Any]]] = []
        sources, step, n = _sources(spec), max(spec.window_ms // 6, 1000), 0
        for t in range(0, spec.window_ms * windows - step, step):
            for src in sources:
                et = BASE_MS + t + rng.randint(0, step - 1)
                n += 1
                timed.append(
                    (
                        et + rng.randint(0, spec.out_of_orderness_ms),
                        _arrival(f"{name}-{n}", name, src, et, rng.randint(20, 200)),
                    )
                )
        timed.sort(key=lambda x: x[0])  # arrival order: event time plus bounded disorder
        events = [e for _, e in timed]
        events.insert(4, dict(events[1]))  # exact duplicate
        conflict = dict(events[2])
        conflict["record_count"] += 1
        events.insert(5, conflict)  # same event_id, other content
        out[name] = events
    return out


def _interleave(rng: random.Random, per: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    queues = {k: list(v) for k, v in per.items() if v}
    out = []
    while queues:
        name = rng.choice(sorted(queues))
        out.append(queues[name].pop(0))
        if not queues[name]:
            del queues[name]
    return out


def _metrics(
    policy: ModelPolicy, quality: int, regress_from: int | None = None
) -> dict[str, float]:
    """Metric values inside the thresholds; the primary one improves with `quality`, or is worse
    than version `regress_from` by more than the tolerance."""
    values: dict[str, float] = {}
    for m in policy.required_metrics:
        t = policy.thresholds.get(m)
        if t and t.min is not None:
            values[m] = round(t.min + 0.08, 6)
        elif t and t.max is not None:
            values[m] = round(t.max * 0.5, 6)
        else:
            values[m] = 0.5
    p = policy.primary_metric
    if p is not None:
        step = (2 * p.tolerance + 0.001) * (1 if p.direction == "max" else -1)
        if regress_from is not None:
            values[p.name] = round(
                values[p.name]
                + regress_from * step
                - 1.5 * step
                - (0.002 if p.direction == "max" else -0.002),
                6,
            )
        else:
            values[p.name] = round(values[p.name] + quality * step, 6)
    return values


def _update(
    policy: ModelPolicy, version: str, trained_on: list[str], metrics: dict[str, float]
) -> dict[str, Any]:
    return {
        "type": "model.update",
        "v": 1,
        "event_id": f"{policy.name}-{version}",
        "model": policy.name,
        "version": version,
        "artifact_uri": f"s3://models/{policy.name}/{version}",
        "artifact_digest": f"sha256:{policy.name}-{version}",
        "metrics": metrics,
        "trained_on": trained_on,
        "code_version": "sim-1",
    }


def _performance(
    policy: ModelPolicy,
    version: str,
    k: int,
    validation: dict[str, float],
    rng: random.Random,
    degraded: bool = False,
) -> dict[str, Any]:
    """Live interval `k` of `version`: its validation figures, the rollout guard's metric within
    a quarter of the tolerance of it, or (`degraded`) worse than it by three tolerances and more;
    never fewer samples than the rollout's `min_samples`."""
    r = policy.rollout
    assert r is not None
    g = r.guard
    worse = -1 if g.direction == "max" else 1
    metrics = dict(validation)
    if degraded:
        shift = worse * (3 * g.tolerance + 0.05)
    else:
        shift = rng.uniform(-g.tolerance / 4, g.tolerance / 4)
    metrics[g.metric] = round(min(1.0, max(0.0, validation[g.metric] + shift)), 6)
    start = LIVE_MS + k * LIVE_INTERVAL_MS
    return {
        "type": "model.performance",
        "v": 1,
        "event_id": f"{policy.name}-{version}-live-{k}",
        "model": policy.name,
        "version": version,
        "interval_start": format_rfc3339_ms(start),
        "interval_end": format_rfc3339_ms(start + LIVE_INTERVAL_MS),
        "metrics": metrics,
        "sample_count": r.min_samples + rng.randint(0, 2000),
        "source": "sim-serving",
    }


def _rollback(
    model: str, actor: str, key: bytes, event_id: str, reason: str, issued_at: datetime
) -> dict[str, Any]:
    return _signed(
        CommandRollback, key, event_id, model=model, actor=actor, reason=reason, issued_at=issued_at
    )


def _override(
    subject: str, actor: str, key: bytes, event_id: str, reason: str, issued_at: datetime
) -> dict[str, Any]:
    return _signed(
        CommandOverride,
        key,
        event_id,
        subject=subject,
        outcome="promote",
        actor=actor,
        reason=reason,
        issued_at=issued_at,
    )


def _signed(kind: type[C], key: bytes, event_id: str, **fields: Any) -> dict[str, Any]:
    cmd = kind(event_id=event_id, nonce=_nonce(event_id), signature="unsigned", **fields)
    return to_jsonable(signed(cmd, key))


def _nonce(event_id: str) -> str:
    """A nonce derived from the (seeded) event id: the same seed gives the same stream."""
    return hashlib.sha256(f"nonce:{event_id}".encode()).hexdigest()[:32]


def generate(
    policies: Policies,
    keys: dict[str, bytes],
    seed: int = 7,
    windows: int = 5,
    issued_at: datetime | None = None,
) -> list[Phase]:
    """Phases: data, models, close (fire, retract, drop, too late), live (only when a model
    policy has a staged rollout), commands, drift (only when a dataset has drift checks that a
    model retrains on). Commands are issued at `issued_at` (default: now; a
    command is good for the access policy's max_command_age after that)."""
    at = issued_at or datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(seed)
    specs = policies.dataset_specs()
    data = Phase("data", _interleave(rng, data_stream(specs, rng, windows)))
    some = min(specs)
    data.malformed = [
        (some.encode(), b"{this is not json"),
        (
            some.encode(),
            orjson.dumps({"type": "data.arrival", "v": 99, "event_id": "sim-bad-version"}),
        ),
        (
            some.encode(),
            orjson.dumps(
                {"type": "data.arrival", "v": 1, "event_id": "sim-bad-schema", "dataset": some}
            ),
        ),
    ]
    models, close, commands = Phase("models"), Phase("close"), Phase("commands")
    live = Phase("live")
    for _, policy in sorted(policies.models.items()):
        ds = policy.datasets[0]
        spec = specs[ds]
        wid = [window_id(ds, BASE_MS + k * spec.window_ms, spec.window_ms) for k in range(windows)]
        models.events += [
            _update(policy, "v1", wid[0:2], _metrics(policy, 0)),  # passes: first champion
            _update(policy, "v2", wid[1:2], _metrics(policy, 0, regress_from=0)),  # regresses
            _update(policy, "v3", wid[2:3], _metrics(policy, 1)),  # passes: champion (challenger)
            _update(policy, "v4", wid[-1:], _metrics(policy, 2)),  # its window has not fired: hold
        ]
        if policy.rollout is not None:
            staged = _staged(policy, rng, wid[-2:-1])
            models.events += staged[0]
            live.events += staged[1]
        end = BASE_MS + windows * spec.window_ms
        max_count = policy_max_records(policies, ds)
        # fire the last window exactly at its end: v4 is promoted, then retract it with an
        # arrival inside the allowed lateness that breaks the record-count bound
        close.events += [_watermark(f"{ds}-wm-end-{s}", ds, s, end) for s in _sources(spec)]
        close.events.append(
            _arrival(
                f"{ds}-retract", ds, _sources(spec)[0], end - spec.window_ms // 2, max_count + 1
            )
        )
    for ds, spec in sorted(specs.items()):
        end = BASE_MS + windows * spec.window_ms
        close.events += [
            _watermark(f"{ds}-wm-final-{s}", ds, s, end + spec.allowed_lateness_ms + spec.window_ms)
            for s in _sources(spec)
        ]
        close.events.append(
            _arrival(f"{ds}-too-late", ds, _sources(spec)[0], BASE_MS + spec.window_ms // 2, 7)
        )
    for name in sorted(policies.models):
        granted = sorted(
            a
            for a, spec in policies.access.actors.items()
            if any(g.action == "rollback" and name in g.models for g in spec.allow)
        )
        denied = sorted(a for a in policies.access.actors if a not in granted)
        if granted and granted[0] in keys:
            commands.events.append(
                _rollback(
                    name, granted[0], keys[granted[0]], f"{name}-rollback-ok", "canary alert", at
                )
            )
            commands.events.append(
                _rollback(name, granted[0], b"forged-key", f"{name}-rollback-forged", "forged", at)
            )
        overriders = sorted(
            a
            for a, spec in policies.access.actors.items()
            if any(g.action == "override" and name in g.models for g in spec.allow)
        )
        if overriders and overriders[0] in keys:
            commands.events.append(
                _override(
                    f"{name}:v2",
                    overriders[0],
                    keys[overriders[0]],
                    f"{name}-override-v2",
                    "regression accepted: new features outweigh it",
                    at,
                )
            )
        if denied and denied[0] in keys:
            commands.events.append(
                _rollback(
                    name,
                    denied[0],
                    keys[denied[0]],
                    f"{name}-rollback-unauthorized",
                    "not my model",
                    at,
                )
            )
    for phase in (data, close):
        add_profiles(phase.events, specs)
    last = max(
        BASE_MS + windows * s.window_ms + s.allowed_lateness_ms + s.window_ms
        for s in specs.values()
    )
    drift = Phase("drift", drift_phase(policies, specs, last))
    return [data, models, close, *([live] if live.events else []), commands] + (
        [drift] if drift.events else []
    )


def _staged(
    policy: ModelPolicy, rng: random.Random, trained_on: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A staged rollout in two acts (models phase, live phase), for a policy with `rollout`.

    Models: v1 (the first champion) serves well; v3, its challenger, has `challenger_windows`
    good intervals and is crowned. Live: v5 (trained on a window that stays promoted) becomes
    challenger and is crowned the same way over v3, then its live guard metric degrades: rolled
    back to v3 (E_LIVE_DEGRADED). v6 becomes challenger and is worse than v3 live: rejected."""
    r = policy.rollout
    assert r is not None
    n, k = r.challenger_windows, 0
    m = {v: _metrics(policy, q) for v, q in (("v1", 0), ("v3", 1), ("v5", 2), ("v6", 3))}

    def perf(version: str, degraded: bool = False) -> dict[str, Any]:
        nonlocal k
        k += 1
        return _performance(policy, version, k, m[version], rng, degraded)

    models = [perf("v1"), *(perf("v3") for _ in range(n))]
    live = [
        _update(policy, "v5", trained_on, m["v5"]),
        perf("v3"),
        *(perf("v5") for _ in range(n)),
        perf("v5", degraded=True),
        _update(policy, "v6", trained_on, m["v6"]),
        perf("v3"),
        perf("v6", degraded=True),
    ]
    return models, live


def policy_max_records(policies: Policies, dataset: str) -> int:
    rc = policies.datasets[dataset].checks.record_count
    return rc.max if rc is not None and rc.max is not None else 1_000_000


def to_lines(phases: list[Phase]) -> bytes:
    """JSON lines of every phase; malformed records are written as they are (produce reports them)."""
    lines = []
    for phase in phases:
        lines += [orjson.dumps(e) for e in phase.events]
        lines += [value for _, value in phase.malformed]
    return b"\n".join(lines) + b"\n"
