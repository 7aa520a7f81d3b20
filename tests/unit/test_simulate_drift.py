"""The simulator's drift story on the shipped gates, derived by the pipeline: every clicks
arrival carries a profile of the declared column; the data phase's windows pass their drift
checks; the drift phase's shifted windows fail them (warn: still promoted), their notices tell
churn, and churn asks for retraining with reason drift, once per debounce."""

from __future__ import annotations

from typing import Any

from orchestrator.contracts.modellog import DataNotice, parse_entry
from orchestrator.replay import MemorySource, Range, derive_data, derive_models
from orchestrator.simulate import EXAMPLE_KEYS, generate
from tests.unit.simulated_rollout import APPENDED_MS, ISSUED, LOGICS, POLICIES, records


def clicks(phases: list[Any], names: tuple[str, ...]) -> Any:
    events = [
        e for p in phases if p.name in names for e in p.events if e.get("dataset") == "clicks"
    ]
    source = MemorySource({"data.arrivals": {0: records(events, "dataset")}})
    return derive_data(LOGICS, source, Range(), processes=1)


def drift_checks(decision: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in decision["checks"] if c["name"].startswith("drift.")]


def test_every_clicks_arrival_has_a_profile_and_the_same_seed_the_same_one() -> None:
    phases = generate(POLICIES, EXAMPLE_KEYS, seed=7, issued_at=ISSUED)
    again = generate(POLICIES, EXAMPLE_KEYS, seed=7, issued_at=ISSUED)
    arrivals = [
        e
        for p in phases
        for e in p.events
        if e.get("type") == "data.arrival" and e["dataset"] == "clicks"
    ]
    assert arrivals and all(set(e["profile"]) == {"session_seconds"} for e in arrivals)
    assert [p.events for p in phases] == [p.events for p in again]
    payments = [e for p in phases for e in p.events if e.get("dataset") == "payments"]
    assert all("profile" not in e for e in payments)  # no profile declared: none sent


def test_the_drift_phase_fails_the_checks_and_churn_asks_for_retraining() -> None:
    phases = generate(POLICIES, EXAMPLE_KEYS, seed=7, issued_at=ISSUED)
    assert [p.name for p in phases][-1] == "drift"
    before = clicks(phases, ("data", "close"))
    judged = [d for d in before.decisions if drift_checks(d)]
    assert judged
    assert all(c["passed"] for d in judged for c in drift_checks(d))

    after = clicks(phases, ("data", "close", "drift"))
    drifted = after.decisions[len(before.decisions) :]
    assert len(drifted) == 2  # the drift phase's two windows
    for d in drifted:
        assert d["outcome"] == "promote"  # severity warn
        failed = {c["name"] for c in drift_checks(d) if not c["passed"]}
        assert failed == {
            "drift.session_seconds.psi",
            "drift.session_seconds.ks",
            "drift.session_seconds.mean_shift",
        }
    notices = [parse_entry(e.value) for e in after.log if e.key == b"churn"]
    told = [n for n in notices if isinstance(n, DataNotice) and n.drift]
    assert [n.window_id for n in told] == [d["subject"]["id"] for d in drifted]

    log = [(i, e.key, e.value, APPENDED_MS) for i, e in enumerate(after.log) if e.key == b"churn"]
    derived = derive_models(LOGICS, MemorySource({"models.log": {0: log}}), Range())
    requests = [d for d in derived.decisions if d["subject"]["kind"] == "training"]
    reasons = [(d["checks"][0]["name"], d["inputs"]["event_ids"]) for d in requests]
    windows = [d["checks"][0]["observed"] for d in requests]
    # every 3 promoted windows (the third of them is the first drifted window: its drift
    # request falls within the PT1H debounce of that one), then the second drifted window,
    # an hour later, asks with reason drift
    assert [r for r, _ in reasons] == [
        "retrain.every",
        "retrain.every",
        "clicks.drift.session_seconds.psi",
    ]
    assert drifted[0]["subject"]["id"] in windows[1]["promoted_windows"]
    assert requests[2]["checks"][0]["observed"]["reference"]
