"""The part of an arrival's data profile its window keeps (`keep_profile`): the columns the
dataset policy declares, in its order, with the bins and quantiles it declares and nothing else;
a column without values keeps its counts only; bins or quantiles of another number than the
policy's are refused (E_PROFILE_MISMATCH) with an exact message and change nothing. And what a
profile does to the held form of a restored arrival and to the arrival's content digest."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from orchestrator.contracts import decode
from orchestrator.contracts.codec import to_jsonable
from orchestrator.contracts.events import ColumnProfile, DataArrival
from orchestrator.contracts.wire import wire_json
from orchestrator.core.digest import digest
from orchestrator.core.effects import Accepted, Rejected, WindowFired
from orchestrator.core.openwindow import arrival_digest, arrival_weight, keep_profile
from orchestrator.core.policy import DatasetSpec, ProfileColumn
from orchestrator.core.windows import SEP, DatasetWindows
from orchestrator.errors import E_PROFILE_MISMATCH
from tests import factories

#: bins over 3 edges (4 counts) and quantiles at 3 probabilities
AMOUNT = ProfileColumn("amount", edges=(0.0, 10.0, 20.0), probs=(0.25, 0.5, 0.75))
#: quantiles only
LATENCY = ProfileColumn("latency", probs=(0.5,))
#: bins only (one edge: 2 counts)
SIZE = ProfileColumn("size", edges=(100.0,))

#: the figures every full column below shares (count 4, values between 1 and 25)
MOMENTS = {"count": 4, "nulls": 1, "mean": 10.75, "std": 8.5, "min": 1.0, "max": 25.0}
FULL_AMOUNT = {**MOMENTS, "bins": [0, 2, 1, 1], "quantiles": [4.0, 8.5, 15.25]}

H = 3_600_000


def sent(**columns: dict[str, Any]) -> dict[str, ColumnProfile]:
    """An arrival's validated profile."""
    return {name: ColumnProfile.model_validate(c) for name, c in columns.items()}


def bare_ref() -> dict[str, Any]:
    return {"event_id": "a0", "digest": "sha256:d"}


def kept(columns: tuple[ProfileColumn, ...], profile: dict[str, ColumnProfile]) -> Any:
    """What keep_profile puts into a fresh ref (None: nothing), asserting it matched."""
    ref = bare_ref()
    assert keep_profile(columns, profile, ref) is None
    assert set(ref) <= {"event_id", "digest", "profile"}
    return ref.get("profile")


# -- what is kept -----------------------------------------------------------------------------


def test_only_declared_columns_and_parts_are_kept_in_the_policys_order() -> None:
    """The policy declares amount (absent here), latency (quantiles only) and size (bins only);
    the arrival sends size and latency with both bins and quantiles, and an undeclared column.
    Kept: latency with its quantiles but not its bins, size with its bins but not its
    quantiles, in the policy's order, nothing of the undeclared column; a declared column the
    arrival lacks is skipped, not the end of the columns."""
    profile = sent(
        other=FULL_AMOUNT,
        size={**MOMENTS, "bins": [3, 1], "quantiles": [2.0, 9.0, 20.0]},
        latency={**MOMENTS, "bins": [1, 1, 1, 1], "quantiles": [7.5]},
    )
    out = kept((AMOUNT, LATENCY, SIZE), profile)
    assert out == {
        "latency": {**MOMENTS, "quantiles": [7.5]},
        "size": {**MOMENTS, "bins": [3, 1]},
    }
    assert list(out) == ["latency", "size"]


def test_a_column_with_both_parts_declared_keeps_both() -> None:
    """Declared bins and quantiles, both sent with the declared numbers: kept as sent."""
    assert kept((AMOUNT,), sent(amount=FULL_AMOUNT)) == {"amount": FULL_AMOUNT}


def test_a_column_without_values_keeps_its_counts_only() -> None:
    """count 0: no moments to keep and no bins or quantiles demanded (the policy declares
    both; the arrival's all-zero bins are dropped): the column is kept as its two counts, with
    no None figures."""
    profile = sent(amount={"count": 0, "nulls": 7, "bins": [0, 0, 0, 0]})
    assert kept((AMOUNT,), profile) == {"amount": {"count": 0, "nulls": 7}}
    assert kept((AMOUNT,), sent(amount={"count": 0})) == {"amount": {"count": 0, "nulls": 0}}


def test_a_single_value_keeps_its_bins_and_quantiles() -> None:
    """count 1 is a column with values: its declared bins and quantiles are kept (and would
    be checked)."""
    one = {"count": 1, "nulls": 0, "mean": 12.0, "std": 0.0, "min": 12.0, "max": 12.0}
    column = {**one, "bins": [0, 0, 1, 0], "quantiles": [12.0, 12.0, 12.0]}
    assert kept((AMOUNT,), sent(amount=column)) == {"amount": column}
    with_too_few = {**one, "bins": [0, 1], "quantiles": [12.0, 12.0, 12.0]}
    ref = bare_ref()
    assert keep_profile((AMOUNT,), sent(amount=with_too_few), ref) == (
        "field 'profile.amount.bins': the policy declares 4, the arrival has 2"
    )


def test_no_profile_or_no_declared_columns_keeps_nothing() -> None:
    """An arrival without a profile, a dataset without `profile:`, or a profile of undeclared
    columns only: the ref gets no `profile` key at all."""
    for columns, profile in [
        ((AMOUNT,), None),
        ((), sent(amount=FULL_AMOUNT)),
        ((LATENCY,), sent(amount=FULL_AMOUNT)),
    ]:
        ref = bare_ref()
        assert keep_profile(columns, profile, ref) is None
        assert ref == bare_ref()


# -- what is refused --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (
            {**MOMENTS, "quantiles": [4.0, 8.5, 15.25]},
            "field 'profile.amount.bins': the policy declares 4, the arrival has none",
        ),
        (
            {**MOMENTS, "bins": [0, 2, 1, 1, 0]},
            "field 'profile.amount.bins': the policy declares 4, the arrival has 5",
        ),
        (
            {**MOMENTS, "bins": [0, 2, 1, 1]},
            "field 'profile.amount.quantiles': the policy declares 3, the arrival has none",
        ),
        (
            {**MOMENTS, "bins": [0, 2, 1, 1], "quantiles": [4.0, 15.25]},
            "field 'profile.amount.quantiles': the policy declares 3, the arrival has 2",
        ),
    ],
    ids=["no-bins", "bins-5", "no-quantiles", "quantiles-2"],
)
def test_a_part_of_another_number_than_declared_is_a_mismatch_and_keeps_nothing(
    amount: dict[str, Any], message: str
) -> None:
    """The message names the field, the number declared and the number sent ("none" when the
    part is missing); the ref is left as it was, even though the column before (size) matched."""
    profile = sent(size={**MOMENTS, "bins": [3, 1]}, amount=amount)
    ref = bare_ref()
    assert keep_profile((SIZE, AMOUNT), profile, ref) == message
    assert ref == bare_ref()


def spec(*columns: ProfileColumn) -> DatasetSpec:
    return DatasetSpec(
        "clicks", window_ms=H, out_of_orderness_ms=0, allowed_lateness_ms=0, profile=columns
    )


def arrival(event_id: str, profile: dict[str, Any], **extra: Any) -> DataArrival:
    raw = factories.arrival(event_id, profile=profile, **extra)
    event = decode(orjson.dumps(raw))
    assert isinstance(event, DataArrival)
    return event


def test_a_mismatched_arrival_goes_to_the_dlq_and_the_dataset_holds_nothing_of_it() -> None:
    """DatasetWindows refuses it with one Rejected naming the dataset, the event and the exact
    mismatch; no window opens and its event id is not remembered, so the corrected arrival
    under the same id is accepted (not a duplicate conflict)."""
    windows = DatasetWindows(spec(AMOUNT))
    bad = {"amount": {**MOMENTS, "bins": [0, 2, 1, 1]}}
    assert windows.handle_arrival(arrival("a0", bad), 0, 1) == [
        Rejected(
            "clicks",
            "a0",
            E_PROFILE_MISMATCH,
            "field 'profile.amount.quantiles': the policy declares 3, the arrival has none",
        )
    ]
    assert (windows.windows, windows.index) == ({}, {})
    accepted, *_ = windows.handle_arrival(arrival("a0", {"amount": FULL_AMOUNT}), 0, 2)
    assert accepted == Accepted("clicks", "a0", "clicks/2026-11-23T10:00:00Z/PT1H")
    (window,) = windows.windows.values()
    assert window.arrivals["a0"]["profile"] == {"amount": FULL_AMOUNT}


# -- a held profile after a restore -----------------------------------------------------------


def restored(original: DatasetWindows) -> DatasetWindows:
    """A dataset rebuilt from `original`'s changelog entries, each through JSON as the
    changelog holds it."""
    out = DatasetWindows(original.spec)
    for key, value in original.snapshot().items():
        _, kind, ident = key.split(SEP)
        out.restore(kind, ident, orjson.loads(orjson.dumps(value)))
    out.settle()
    return out


def test_a_restored_window_holds_its_profiled_arrivals_exactly_as_before() -> None:
    """Arrivals with a full column and a column without values: after a restore the window
    holds each arrival in the same form (figures without None), weighs the same, and fires a
    byte-identical manifest."""
    before = DatasetWindows(spec(AMOUNT, SIZE))
    empty_size = {"count": 0, "nulls": 4}
    before.handle_arrival(arrival("a0", {"amount": FULL_AMOUNT, "size": empty_size}), 0, 1)
    before.handle_arrival(arrival("a1", {"size": {**MOMENTS, "bins": [3, 1]}}), 0, 2)
    after = restored(before)
    (start,) = before.windows
    held_before, held_after = before.windows[start], after.windows[start]
    assert held_after.arrivals == held_before.arrivals
    assert held_after.arrivals["a0"]["profile"] == {"amount": FULL_AMOUNT, "size": empty_size}
    assert held_after.weight == held_before.weight
    watermark = decode(orjson.dumps(factories.watermark("w")))
    fired = [
        wire_json(e.wire)
        for w in (before, after)
        for e in w.handle_watermark(watermark)  # type: ignore[arg-type]
        if isinstance(e, WindowFired)
    ]
    assert len(fired) == 2
    assert fired[0] == fired[1]


def test_a_kept_profile_weighs_its_encoded_bytes() -> None:
    """The profile of an arrival's ref counts exactly the bytes orjson writes for it."""
    ref = {
        "event_id": "a0",
        "source": "eu",
        "uri": "s3://lake/a0",
        "checksum": "sha256:c",
        "record_count": 10,
        "schema_fingerprint": None,
        "digest": "sha256:d",
        "partition": 0,
        "offset": 1,
    }
    without = arrival_weight(ref, 200)
    assert keep_profile((AMOUNT, SIZE), sent(amount=FULL_AMOUNT, size={"count": 0}), ref) is None
    assert arrival_weight(ref, 200) - without == len(
        orjson.dumps({"amount": FULL_AMOUNT, "size": {"count": 0, "nulls": 0}})
    )


# -- the content digest -----------------------------------------------------------------------


def test_the_digest_of_a_profiled_arrival_is_the_digest_of_its_json_form() -> None:
    """With a column without values (its moments None): the digest is that of the arrival's
    JSON form (None figures left out), so the same arrival written with explicit nulls, or
    its columns and figures in another order, has the same digest; another figure does not."""
    profile = {"amount": FULL_AMOUNT, "size": {"count": 0, "nulls": 4}}
    event = arrival("a0", profile)
    assert arrival_digest(event) == digest(to_jsonable(event))
    nulls = {"mean": None, "std": None, "min": None, "max": None, "quantiles": None}
    reordered = {
        "size": {**nulls, "nulls": 4, "count": 0},
        "amount": dict(reversed(list(FULL_AMOUNT.items()))),
    }
    assert arrival_digest(arrival("a0", reordered)) == arrival_digest(event)
    changed = copy.deepcopy(profile)
    changed["size"]["nulls"] = 5
    assert arrival_digest(arrival("a0", changed)) != arrival_digest(event)
