"""Drift checks end to end in the core: a dataset policy with `profile` and `drift`, arrivals
with profiles, merged manifests and the data gate's evidence, the state kept across a
restore, and the policy's refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from pydantic import ValidationError

from orchestrator.contracts import decode
from orchestrator.contracts.codec import encode
from orchestrator.contracts.wire import wire_json
from orchestrator.core import profile
from orchestrator.core.effects import Decided, Notified, Rejected, WindowFired
from orchestrator.core.engine import EventTimeEngine
from orchestrator.errors import E_DRIFT, E_PROFILE_MISMATCH, OK, ConfigError
from orchestrator.policies import Policies
from orchestrator.policies.datasets import DatasetPolicy, gate_factory
from orchestrator.testing import dataset_policy, write_gates
from tests import factories, profiles

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EDGES = [-1.0, 0.0, 1.0, 2.0]
PROBS = [0.1, 0.25, 0.5, 0.75, 0.9]


def policy(**drift: Any) -> DatasetPolicy:
    return DatasetPolicy.model_validate(
        {
            "kind": "dataset",
            "name": "clicks",
            "version": 1,
            "window": "PT1H",
            "out_of_orderness": "PT0S",
            "allowed_lateness": "PT0S",
            "profile": {"amount": {"bins": EDGES, "quantiles": PROBS}},
            "drift": {
                "reference": drift.pop("reference", {"last": 2}),
                "columns": {
                    "amount": drift
                    or {
                        "psi": {"max": 0.2, "severity": "error"},
                        "ks": {"max": 0.3},
                        "mean_shift": {"max": 1.0},
                    }
                },
            },
        }
    )


def col(values: np.ndarray) -> dict[str, Any]:
    return profiles.column(values, EDGES, PROBS)


class Feed:
    def __init__(self, p: DatasetPolicy) -> None:
        spec = p.spec()
        self.engine = EventTimeEngine(
            {"clicks": spec}, {"clicks": gate_factory(p.gate_spec(), "data.arrivals")}
        )
        self.offset = 0

    def arrival(self, eid: str, hour: int, prof: dict[str, Any] | None) -> list[Any]:
        extra = {"profile": prof} if prof is not None else {}
        event = decode(
            orjson.dumps(
                factories.arrival(eid, event_time=f"2026-11-23T{hour:02d}:10:00Z", **extra)
            )
        )
        self.offset += 1
        return self.engine.handle(event, 0, self.offset, AT)  # type: ignore[arg-type]


def decisions(effects: list[Any]) -> list[Any]:
    return [e.decision for e in effects if isinstance(e, Decided)]


def checks_of(decision: Any) -> dict[str, Any]:
    return {c.name: c for c in decision.checks}


def test_a_shifted_window_fails_its_drift_checks_with_every_figure() -> None:
    rng = np.random.default_rng(7)
    feed = Feed(policy())
    base = [rng.normal(0.5, 0.5, 400) for _ in range(3)]
    # hours 0, 1, 2: the same distribution; each next hour's arrival closes the one before
    for hour, values in enumerate(base):
        ds = decisions(feed.arrival(f"a{hour}", hour, {"amount": col(values)}))
        assert all(d.outcome == "promote" for d in ds)
    shifted = rng.normal(2.0, 0.5, 400)
    feed.arrival("a3", 3, {"amount": col(shifted)})
    (decided,) = decisions(feed.arrival("a4", 4, {"amount": col(base[0])}))
    assert decided.outcome == "reject"
    c = checks_of(decided)
    psi = c["drift.amount.psi"]
    assert (psi.passed, psi.code, psi.severity) == (False, E_DRIFT, "error")
    # the reference is the last 2 promoted windows (hours 1 and 2), merged
    ref = profile.merge([col(base[1]), col(base[2])], PROBS)
    assert psi.observed["reference"] == [
        "clicks/2026-11-23T01:00:00Z/PT1H",
        "clicks/2026-11-23T02:00:00Z/PT1H",
    ]
    assert psi.observed["count"] == 400
    assert psi.observed["reference_count"] == 800
    assert psi.observed["value"] == round(profile.psi(col(shifted)["bins"], ref["bins"]), 6)
    assert psi.expected == {"max": 0.2}
    ks = c["drift.amount.ks"]
    assert ks.observed["value"] == round(profile.ks_quantiles(col(shifted), ref, PROBS), 6)
    assert (ks.passed, ks.severity) == (False, "warn")
    shift = c["drift.amount.mean_shift"]
    assert shift.observed["value"] == round(profile.mean_shift(col(shifted), ref), 6)
    assert not shift.passed


def test_the_first_window_has_nothing_to_drift_from_and_a_window_without_values_fails() -> None:
    rng = np.random.default_rng(8)
    feed = Feed(policy())
    feed.arrival("a0", 0, {"amount": col(rng.normal(size=50))})
    (first,) = decisions(feed.arrival("a1", 1, {"amount": col(rng.normal(size=50))}))
    psi = checks_of(first)["drift.amount.psi"]
    assert (psi.passed, psi.code, psi.observed["reference"]) == (True, OK, [])
    (second,) = decisions(feed.arrival("a2", 2, None))  # hour 1 has a profile: judged
    assert checks_of(second)["drift.amount.psi"].observed["reference"] == [
        "clicks/2026-11-23T00:00:00Z/PT1H"
    ]
    (third,) = decisions(feed.arrival("a3", 3, None))  # hour 2 has none: cannot be judged
    psi = checks_of(third)["drift.amount.psi"]
    assert (psi.passed, psi.observed["value"], psi.observed["count"]) == (False, None, 0)
    assert third.outcome == "reject"


def test_the_manifest_merges_its_arrivals_profiles_and_keeps_declared_columns_only() -> None:
    rng = np.random.default_rng(9)
    feed = Feed(policy())
    a, b = rng.normal(size=100), rng.normal(1.0, 2.0, size=300)
    feed.arrival("a0", 0, {"amount": col(a), "other": {"count": 0}})
    feed.arrival("a1", 0, {"amount": col(b)})
    fired = [e for e in feed.arrival("a2", 1, None) if isinstance(e, WindowFired)]
    (manifest,) = [f.manifest for f in fired]
    assert manifest.profile == {"amount": profile.merge([col(a), col(b)], PROBS)}
    assert all(set(r.profile or {}) == {"amount"} for r in manifest.arrivals)
    # the bytes written are the model's own encoding
    assert wire_json(fired[0].wire) == encode(manifest)


def test_a_profile_that_does_not_match_the_policy_goes_to_the_dlq() -> None:
    feed = Feed(policy())
    good = col(np.arange(10.0))
    bad = dict(good, bins=[*good["bins"], 0])  # one bin more than the policy declares
    bad["bins"][0] = 0
    bad["bins"][1] += good["bins"][0]
    (rejected,) = feed.arrival("a0", 0, {"amount": bad})
    assert isinstance(rejected, Rejected)
    assert rejected.code == E_PROFILE_MISMATCH
    assert "profile.amount.bins" in rejected.message
    assert "declares 5, the arrival has 6" in rejected.message


def test_drift_state_survives_a_restore() -> None:
    """The reference profiles are the gate's state: a restored engine decides the same."""
    rng = np.random.default_rng(10)
    p = policy()
    first, second = Feed(p), Feed(p)
    for hour in range(3):
        first.arrival(f"a{hour}", hour, {"amount": col(rng.normal(size=100))})
    held = orjson.loads(orjson.dumps(first.engine.snapshot()))  # as the changelog holds it
    second.engine = EventTimeEngine.restore(
        {"clicks": p.spec()}, held.items(), {"clicks": gate_factory(p.gate_spec(), "data.arrivals")}
    )
    second.offset = first.offset
    shifted = {"amount": col(rng.normal(3.0, 1.0, size=100))}
    assert decisions(second.arrival("a3", 3, shifted)) == decisions(first.arrival("a3", 3, shifted))


def test_a_pinned_reference_is_the_named_window_once_promoted() -> None:
    rng = np.random.default_rng(11)
    pinned = "clicks/2026-11-23T00:00:00Z/PT1H"
    feed = Feed(policy(reference={"window": pinned}, psi={"max": 0.1}))
    zero = col(rng.normal(size=200))
    feed.arrival("a0", 0, {"amount": zero})
    feed.arrival("a1", 1, {"amount": col(rng.normal(size=200))})
    (d2,) = decisions(feed.arrival("a2", 2, {"amount": col(rng.normal(size=200))}))
    psi = checks_of(d2)["drift.amount.psi"]
    assert psi.observed["reference"] == [pinned]
    assert psi.observed["reference_count"] == 200


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"drift": {"reference": {"last": 2}, "columns": {"x": {}}}}, "not a column of"),
        (
            {
                "profile": {"amount": {"quantiles": PROBS}},
                "drift": {"reference": {"last": 2}, "columns": {"amount": {"psi": {"max": 1}}}},
            },
            "declares no bins",
        ),
        (
            {"drift": {"reference": {"last": 2, "window": "w"}, "columns": {"amount": {}}}},
            "exactly one of",
        ),
        ({"profile": {"amount": {"bins": [1.0, 1.0]}}}, "strictly increasing"),
        ({"profile": {"amount": {"quantiles": [0.5, 1.0]}}}, "strictly between 0 and 1"),
        ({"profile": {"amount": {}}}, "bins, quantiles or both"),
        ({"drift": {"reference": {"last": 51}, "columns": {"amount": {}}}}, "less than or equal"),
    ],
)
def test_the_policy_refuses_drift_it_cannot_judge(change: dict[str, Any], message: str) -> None:
    doc = policy().model_dump(mode="json", exclude_none=True)
    doc.update(change)
    with pytest.raises(ValidationError, match=message):
        DatasetPolicy.model_validate(doc)


def test_only_drift_with_a_figure_is_told_to_the_models() -> None:
    """A drift check that failed for want of profiled values is recorded, but the notice to the
    models carries only the checks that failed on a figure (that is what retraining reads)."""
    rng = np.random.default_rng(12)
    p = policy(psi={"max": 0.2})
    engine = EventTimeEngine(
        {"clicks": p.spec()},
        {"clicks": gate_factory(p.gate_spec(), "data.arrivals")},
        fanout={"clicks": ["churn"]},
    )

    def send(eid: str, hour: int, prof: dict[str, Any] | None) -> list[Any]:
        extra = {"profile": prof} if prof is not None else {}
        raw = factories.arrival(eid, event_time=f"2026-11-23T{hour:02d}:10:00Z", **extra)
        return engine.handle(decode(orjson.dumps(raw)), 0, hour, AT)  # type: ignore[arg-type]

    send("a0", 0, {"amount": col(rng.normal(size=200))})
    send("a1", 1, None)  # hour 0 fires: nothing to drift from
    told = [
        e for e in send("a2", 2, {"amount": col(rng.normal(4, 1, 200))}) if isinstance(e, Notified)
    ]
    assert [n.drift for n in told] == [None]  # hour 1: no values, failed, not drift
    told = [e for e in send("a3", 3, None) if isinstance(e, Notified)]
    (notice,) = told  # hour 2: shifted, failed on its figure
    assert notice.drift is not None
    assert [c.name for c in notice.drift] == ["drift.amount.psi"]


def test_a_drift_check_of_an_undeclared_column_names_the_file_and_field(tmp_path: Path) -> None:
    gates = write_gates(
        tmp_path / "gates",
        [
            dataset_policy(
                "clicks",
                profile={"x": {"bins": [0.0, 1.0]}},
                drift={"reference": {"last": 2}, "columns": {"y": {}}},
            )
        ],
    )
    with pytest.raises(ConfigError) as info:
        Policies.load(gates)
    assert info.value.file.endswith("clicks.yaml")
    assert (info.value.field, info.value.reason) == (
        "drift",
        "columns.y: not a column of `profile`",
    )


def test_a_policy_that_declares_other_bins_after_a_restore_judges_only_like_with_like() -> None:
    """The reference profiles and the open windows' arrivals were kept under 4 bin edges; the
    policy now declares 3. Nothing kept under the old declaration is merged with or compared
    to what is kept under the new one: no error, and no drift figure from mismatched bins."""
    rng = np.random.default_rng(13)
    old = policy()
    first = Feed(old)
    for hour in range(3):
        first.arrival(f"a{hour}", hour, {"amount": col(rng.normal(size=100))})
    first.arrival("a3-old", 3, {"amount": col(rng.normal(size=100))})  # hour 3 open, old bins
    held = orjson.loads(orjson.dumps(first.engine.snapshot()))
    doc = old.model_dump(mode="json", exclude_none=True)
    doc["profile"] = {"amount": {"bins": [-1.0, 0.0, 1.0], "quantiles": PROBS}}
    new = DatasetPolicy.model_validate(doc)
    second = Feed(new)
    second.engine = EventTimeEngine.restore(
        {"clicks": new.spec()},
        held.items(),
        {"clicks": gate_factory(new.gate_spec(), "data.arrivals")},
    )
    second.offset = first.offset
    values = rng.normal(size=100)
    now = profiles.column(values, [-1.0, 0.0, 1.0], PROBS)
    second.arrival("a3-new", 3, {"amount": now})
    fired = [e for e in second.arrival("a4", 4, {"amount": now}) if isinstance(e, WindowFired)]
    (manifest,) = [f.manifest for f in fired]
    assert manifest.profile == {"amount": profile.merge([now], PROBS)}  # the old arrival left out
    (decided,) = decisions(second.arrival("a5", 5, {"amount": now}))
    psi = checks_of(decided)["drift.amount.psi"]
    # hours 2 and 3 are the last two promoted: hour 2 kept under the old bins (no reference),
    # hour 3 under the new ones
    assert psi.observed["reference"] == ["clicks/2026-11-23T03:00:00Z/PT1H"]


def test_a_column_of_only_nulls_counts_its_nulls_in_the_window() -> None:
    """An arrival whose column has no values (count 0) still adds its nulls to the merge."""
    rng = np.random.default_rng(14)
    feed = Feed(policy())
    values = col(rng.normal(size=50))
    feed.arrival("a0", 0, {"amount": values})
    feed.arrival("a1", 0, {"amount": {"count": 0, "nulls": 5}})
    fired = [e for e in feed.arrival("a2", 1, None) if isinstance(e, WindowFired)]
    (manifest,) = [f.manifest for f in fired]
    assert manifest.profile is not None
    assert (manifest.profile["amount"]["count"], manifest.profile["amount"]["nulls"]) == (50, 5)


def test_arrivals_kept_under_other_quantiles_are_left_out_of_the_merge() -> None:
    """The policy declared 5 quantile probabilities when the first arrival was kept, 3 when
    the second was: the window's quantiles are the second's alone."""
    rng = np.random.default_rng(15)
    old = policy()
    first = Feed(old)
    first.arrival("a0", 0, {"amount": col(rng.normal(size=100))})
    held = orjson.loads(orjson.dumps(first.engine.snapshot()))
    doc = old.model_dump(mode="json", exclude_none=True)
    three = [0.25, 0.5, 0.75]
    doc["profile"] = {"amount": {"bins": EDGES, "quantiles": three}}
    new = DatasetPolicy.model_validate(doc)
    second = Feed(new)
    second.engine = EventTimeEngine.restore(
        {"clicks": new.spec()},
        held.items(),
        {"clicks": gate_factory(new.gate_spec(), "data.arrivals")},
    )
    second.offset = first.offset
    now = profiles.column(rng.normal(size=100), EDGES, three)
    second.arrival("a1", 0, {"amount": now})
    fired = [e for e in second.arrival("a2", 1, {"amount": now}) if isinstance(e, WindowFired)]
    (manifest,) = [f.manifest for f in fired]
    assert manifest.profile == {"amount": profile.merge([now], three)}
