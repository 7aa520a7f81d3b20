"""Retraining triggers pinned exactly (README "Retraining triggers"): the event time each trigger
carries (a window's end, an update's `event_time` or its latest window's end, none), the
debounce at its boundary and without `retrain_on`, the request id and its link to the audited
decision, every live bound judged, a plateau at exactly `min_gain` and for a `min` metric, a
version crowned by an override, two triggers of one entry, the changelog a request writes, and
`reason_of`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orchestrator.contracts.events import ModelUpdate
from orchestrator.core.digest import digest
from orchestrator.core.effects import StateDelete, StatePut
from orchestrator.core.modelgate import ModelGate
from orchestrator.core.modelspec import LiveBound, Plateau
from orchestrator.core.retrain import reason_of
from orchestrator.core.timeutil import to_ms
from orchestrator.errors import E_LIVE_DEGRADED, E_PLATEAU
from tests.unit.modelgate_support import (
    AT,
    NOW,
    SRC,
    W1,
    W2,
    W3,
    data,
    decisions,
    gate,
    override,
    restored,
    update,
)
from tests.unit.retrain_support import drifted, requests, training, with_retrain
from tests.unit.rollout_support import feed, perf

HOUR = 3_600_000
#: the ends of W1, W2, W3 (10:00, 11:00, 12:00 plus one hour), in epoch ms
END1, END2, END3 = (to_ms(datetime(2026, 11, 23, h, tzinfo=UTC)) for h in (11, 12, 13))


def timed(u: ModelUpdate, at: datetime) -> ModelUpdate:
    return ModelUpdate.model_validate({**u.model_dump(), "event_time": at})


# -- the event time of each trigger, and the debounce ----------------------------------------


def test_a_drift_request_takes_its_window_end_as_event_time_and_keeps_it_across_a_restore() -> None:
    """The debounce clock is the window's end (start + size), in the gate's record."""
    g = with_retrain(gate(), drift=frozenset({"clicks"}), debounce_ms=HOUR)
    (req,) = requests(drifted(g, W1))
    assert g.retrain_at_ms == END1
    h = restored(g, g.entries())
    assert (h.requests, h.retrain_at_ms) == (1, END1)
    # a two-hour window from 10:00 ends at 12:00: exactly one debounce after 11:00, so it asks
    (again,) = requests(drifted(h, "clicks/2026-11-23T10:00:00Z/PT2H"))
    assert h.retrain_at_ms == END2
    assert again.request_id != req.request_id


def test_the_debounce_ends_exactly_one_interval_after_the_last_request() -> None:
    """A trigger 1 ms short of `debounce` after the last request is dropped, one at exactly
    `debounce` after it is made (measured on window ends)."""
    g = with_retrain(gate(), drift=frozenset({"clicks"}), debounce_ms=HOUR + 1)
    assert len(requests(drifted(g, W1))) == 1  # ends END1
    assert requests(drifted(g, W2)) == []  # ends END1 + 1 h: 1 ms short
    assert g.retrain_at_ms == END1  # a dropped trigger moves nothing
    h = with_retrain(gate(), drift=frozenset({"clicks"}), debounce_ms=HOUR)
    assert len(requests(drifted(h, W1))) == 1
    assert len(requests(drifted(h, W2))) == 1  # exactly one hour later
    assert (h.requests, h.retrain_at_ms) == (2, END2)


def test_without_retrain_on_every_is_never_debounced_even_out_of_window_order() -> None:
    """`retrain_every` alone has no debounce: a window promoted after a later one still asks;
    the request time kept is the latest window end seen."""
    g = gate(retrain_every=1)
    (late,) = requests(data(g, W2))
    (early,) = requests(data(g, W1))
    assert (late.windows, early.windows) == ([W2], [W1])
    assert (g.requests, g.retrain_at_ms) == (2, END2)


def test_a_plateau_takes_the_updates_event_time() -> None:
    """An update that carries `event_time`: that is the plateau request's event time."""
    g = with_retrain(gate(), plateau=Plateau(last=2, min_gain=0.05), debounce_ms=HOUR)
    for w in (W1, W2):
        data(g, w)
    g.handle(update("v1", auc=0.80, trained_on=[W1]), SRC, AT)
    at = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)
    (req,) = requests(g.handle(timed(update("v2", auc=0.81, trained_on=[W2]), at), SRC, AT))
    assert req.reason == "plateau"
    assert g.retrain_at_ms == to_ms(at)


def test_a_plateau_without_event_time_takes_its_latest_window_end() -> None:
    """No `event_time`: the latest end among the windows the version was trained on."""
    g = with_retrain(gate(), plateau=Plateau(last=2, min_gain=0.05))
    for w in (W1, W2, W3):
        data(g, w)
    g.handle(update("v1", auc=0.80, trained_on=[W1]), SRC, AT)
    (req,) = requests(g.handle(update("v2", auc=0.81, trained_on=[W3, W2]), SRC, AT))
    assert req.reason == "plateau"
    assert g.retrain_at_ms == END3


def test_a_plateau_with_no_time_at_all_takes_the_last_requests_time() -> None:
    """No `event_time` and no lineage: the first request has time 0; a later
    one takes the last request's time, so a debounce drops it."""
    g = with_retrain(gate(), plateau=Plateau(last=2, min_gain=0.05), debounce_ms=HOUR)
    g.handle(update("v1", auc=0.80, trained_on=[]), SRC, AT)
    (first,) = requests(g.handle(update("v2", auc=0.81, trained_on=[]), SRC, AT))
    assert first.reason == "plateau"
    assert (g.requests, g.retrain_at_ms) == (1, 0)
    assert restored(g, g.entries()).retrain_at_ms == 0
    # a drift at 11:00 asks (long after 0), then a timeless plateau is within its debounce
    h = with_retrain(
        gate(),
        drift=frozenset({"clicks"}),
        plateau=Plateau(last=2, min_gain=0.05),
        debounce_ms=HOUR,
    )
    assert len(requests(drifted(h, W1))) == 1
    h.handle(update("v1", auc=0.80, trained_on=[]), SRC, AT)
    effects = h.handle(update("v2", auc=0.81, trained_on=[]), SRC, AT)
    assert h.champion == "v2"
    assert requests(effects) == []
    assert (h.requests, h.retrain_at_ms) == (1, END1)
    # without a debounce the same plateau asks, and the time kept stays the drift's
    k = with_retrain(gate(), drift=frozenset({"clicks"}), plateau=Plateau(last=2, min_gain=0.05))
    drifted(k, W1)
    k.handle(update("v1", auc=0.80, trained_on=[]), SRC, AT)
    (req,) = requests(k.handle(update("v2", auc=0.81, trained_on=[]), SRC, AT))
    assert req.reason == "plateau"
    assert (k.requests, k.retrain_at_ms) == (2, END1)


# -- the request and its decision -------------------------------------------------------------


def test_an_every_request_id_is_the_digest_of_model_and_windows() -> None:
    """Trainers dedupe `every` requests on an id that names only the model and its windows."""
    g = gate(retrain_every=2)
    data(g, W1)
    effects = data(g, W2)
    (req,) = requests(effects)
    (decision,) = training(effects)
    assert req.request_id == digest(["churn", [W1, W2]])
    assert req.decision_id == decision.decision_id
    (evidence,) = decision.checks
    assert decision.inputs.digest == digest(
        ["every", [evidence.model_dump(mode="json")], [W1, W2], []]
    )


def test_a_drift_request_id_is_the_digest_of_model_and_decision_inputs() -> None:
    """Any other request's id digests the model with its decision's inputs digest (reason,
    evidence, windows, event ids), so two drift requests of different windows differ."""
    g = with_retrain(gate(), drift=frozenset({"clicks"}))
    effects = drifted(g, W1)
    (req,) = requests(effects)
    (decision,) = training(effects)
    (evidence,) = decision.checks
    inputs = digest(["drift", [evidence.model_dump(mode="json")], [W1], []])
    assert decision.inputs.digest == inputs
    assert req.request_id == digest(["churn", inputs])
    assert (req.decision_id, req.checks, req.policy) == (
        decision.decision_id,
        [evidence],
        "model/churn",
    )
    assert (decision.subject.id, decision.revision, decision.outcome) == ("churn", 1, "retrain")
    assert decision.inputs.offsets == [SRC]
    again = drifted(g, W2)
    (other,) = requests(again)
    (second,) = training(again)
    assert other.request_id == digest(["churn", second.inputs.digest])
    assert other.request_id not in (req.request_id, digest(["churn", [W2]]))


def test_the_changelog_of_a_request_is_the_gates_state() -> None:
    """The puts and deletes a gate emits while it makes requests compact to exactly its
    entries: one model record, under its one key."""
    g = with_retrain(gate(), drift=frozenset({"clicks"}), plateau=Plateau(last=2, min_gain=0.05))
    log: dict[str, Any] = {}
    steps = [
        lambda: drifted(g, W1),
        lambda: data(g, W2),
        lambda: g.handle(update("v1", auc=0.80, trained_on=[W1]), SRC, AT),
        lambda: g.handle(update("v2", auc=0.81, trained_on=[W2]), SRC, AT),
    ]
    for step in steps:
        for e in step():
            if isinstance(e, StatePut):
                log[e.key] = e.value
            elif isinstance(e, StateDelete):
                log.pop(e.key, None)
    assert g.requests == 2
    assert log == g.entries()


# -- live bounds -------------------------------------------------------------------------------


def champion_v1(**retrain: Any) -> ModelGate:
    g = gate()
    data(g, W1)
    g.handle(update("v1", trained_on=[W1]), SRC, AT)
    return restored(with_retrain(g, **retrain), g.entries())


def test_a_live_bound_counts_an_interval_of_exactly_min_samples() -> None:
    """`min_samples` is inclusive: an interval with exactly that many samples is judged."""
    g = champion_v1(live_bounds=(LiveBound("calibration_error", max=0.05, min_samples=1000),))
    bad = perf("p1", "v1", 0.8).model_copy(update={"metrics": {"calibration_error": 0.2}})
    assert bad.sample_count == 1000
    (req,) = requests(feed(g, bad, 1))
    assert req.reason == "live"
    assert g.retrain_at_ms == to_ms(bad.interval_end)


def test_every_live_bound_is_judged_not_only_those_before_a_skipped_one() -> None:
    """A bound whose metric is missing or within range does not stop the later bounds: the
    failing ones are all the evidence, in the policy's order."""
    bounds = (
        LiveBound("auc", min=0.5),  # within
        LiveBound("brier", max=0.1),  # not in the interval
        LiveBound("calibration_error", max=0.05),
        LiveBound("logloss", max=0.5),
    )
    g = champion_v1(live_bounds=bounds)
    p = perf("p1", "v1", 0.8).model_copy(
        update={"metrics": {"auc": 0.8, "calibration_error": 0.2, "logloss": 0.9}}
    )
    effects = feed(g, p, 1)
    (decision,) = training(effects)
    assert [c.name for c in decision.checks] == ["live.calibration_error", "live.logloss"]
    assert all(c.code == E_LIVE_DEGRADED and not c.passed for c in decision.checks)
    assert decision.inputs.event_ids == ["p1"]
    assert reason_of(decision) == "live"


# -- plateau -----------------------------------------------------------------------------------


def test_a_gain_of_exactly_min_gain_is_no_plateau() -> None:
    """`gain < min_gain` is a plateau; a gain equal to it is not."""
    g = with_retrain(gate(), plateau=Plateau(last=2, min_gain=0.25))
    for w in (W1, W2):
        data(g, w)
    g.handle(update("v1", auc=0.75, trained_on=[W1]), SRC, AT)
    effects = g.handle(update("v2", auc=1.0, trained_on=[W2]), SRC, AT)
    assert g.champion == "v2"
    assert requests(effects) == []


def test_a_plateau_of_a_metric_to_minimise_is_its_fall() -> None:
    """For a `min` primary metric the gain is oldest - newest: a small fall is a plateau."""
    g = with_retrain(gate(direction="min"), plateau=Plateau(last=2, min_gain=0.05))
    for w in (W1, W2):
        data(g, w)
    g.handle(update("v1", logloss=0.40, trained_on=[W1]), SRC, AT)
    effects = g.handle(update("v2", logloss=0.38, trained_on=[W2]), SRC, AT)
    assert g.champion == "v2"
    (decision,) = training(effects)
    (evidence,) = decision.checks
    assert (evidence.name, evidence.code) == ("plateau", E_PLATEAU)
    assert evidence.observed == {"versions": ["v2", "v1"], "logloss": [0.38, 0.40], "gain": 0.02}


def test_the_plateau_gain_is_shown_rounded_to_12_decimals() -> None:
    """The evidence's gain drops the float noise beyond 12 decimals."""
    g = with_retrain(gate(), plateau=Plateau(last=2, min_gain=0.01))
    for w in (W1, W2):
        data(g, w)
    g.handle(update("v1", auc=0.8, trained_on=[W1]), SRC, AT)
    effects = g.handle(update("v2", auc=0.8050000000004, trained_on=[W2]), SRC, AT)
    assert g.champion == "v2"
    (decision,) = training(effects)
    assert decision.checks[0].observed["gain"] == 0.005


def test_a_version_crowned_by_an_override_is_judged_for_a_plateau() -> None:
    """An operator's `override promote` crowns a version too: the plateau is judged on it."""
    g = with_retrain(gate(), plateau=Plateau(last=2, min_gain=0.01))
    for w in (W1, W2):
        data(g, w)
    g.handle(update("v1", auc=0.800, trained_on=[W1]), SRC, AT)
    g.handle(update("v2", auc=0.79, trained_on=[W2]), SRC, AT)  # a regression: rejected
    assert g.champion == "v1"
    effects = g.handle(override("churn:v2", "promote"), SRC, AT, None, NOW)
    assert g.champion == "v2"
    (req,) = requests(effects)
    assert req.reason == "plateau"
    (decision,) = training(effects)
    assert decision.checks[0].observed["versions"] == ["v2", "v1"]


def test_one_notice_can_ask_for_drift_and_for_a_plateau() -> None:
    """A drifted window that also crowns the version held for it makes both requests, drift
    first (no debounce)."""
    g = with_retrain(gate(), drift=frozenset({"clicks"}), plateau=Plateau(last=2, min_gain=0.05))
    data(g, W1)
    g.handle(update("v1", auc=0.80, trained_on=[W1]), SRC, AT)
    assert requests(g.handle(update("v2", auc=0.81, trained_on=[W2]), SRC, AT)) == []  # held
    effects = drifted(g, W2)
    assert g.champion == "v2"
    assert [r.reason for r in requests(effects)] == ["drift", "plateau"]
    assert [d.revision for d in training(effects)] == [1, 2]


# -- reason_of ---------------------------------------------------------------------------------


def test_reason_of_reads_only_training_decisions() -> None:
    """A model version's decision, with checks of its own, is no training decision."""
    g = with_retrain(gate(), drift=frozenset({"clicks"}))
    data(g, W1)
    (decision,) = decisions(g.handle(update("v1", trained_on=[W1]), SRC, AT))
    assert decision.subject.kind == "model_version" and decision.checks
    assert reason_of(decision) is None
    (asked,) = training(drifted(g, W2))
    assert reason_of(asked) == "drift"
    assert reason_of(asked.model_copy(update={"checks": []})) is None
