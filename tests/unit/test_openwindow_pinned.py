"""What one arrival weighs against max_window_bytes (`arrival_weight`), measured against the
bytes orjson really writes for its strings: exact for plain text, an upper bound otherwise
that is tight on the worst case (control characters, escaped to six bytes each), and a bound
of what the arrival really adds to its window's encoded manifest and decision."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from orchestrator.contracts import decode
from orchestrator.contracts.wire import decision_wire, wire_json
from orchestrator.core.datagate import DataGate, DataGateSpec, Fingerprint
from orchestrator.core.decision import GateInfo
from orchestrator.core.effects import Decided, WindowFired
from orchestrator.core.openwindow import arrival_weight
from orchestrator.core.policy import DatasetSpec
from orchestrator.core.windows import DatasetWindows
from tests import factories

OVERHEAD = 213
DIGEST = "sha256:" + "d" * 64


def ref(
    event_id: str = "a1",
    source: str = "eu",
    uri: str = "s3://lake/clicks/a1",
    checksum: str = "sha256:c1",
    fingerprint: str | None = "sha256:fp",
) -> dict[str, Any]:
    """An arrival's ref as DatasetWindows builds it (JSON form of ArrivalRef)."""
    return {
        "event_id": event_id,
        "source": source,
        "uri": uri,
        "checksum": checksum,
        "record_count": 10,
        "schema_fingerprint": fingerprint,
        "digest": DIGEST,
        "partition": 0,
        "offset": 7,
    }


def encoded(text: str) -> int:
    """Bytes of `text` as a JSON string on the wire (quotes and escapes included)."""
    return len(orjson.dumps(text))


def string_bytes(r: dict[str, Any], fingerprint: str | None) -> int:
    """The real bytes of the strings an arrival adds: its event id, checksum and fingerprint
    twice (ref and decision/checksums), its source and uri once."""
    twice = [r["event_id"], r["checksum"]] + ([] if fingerprint is None else [fingerprint])
    return sum(2 * encoded(s) for s in twice) + encoded(r["source"]) + encoded(r["uri"])


def strings_of(r: dict[str, Any]) -> int:
    """What arrival_weight counts for the strings (without the digest and the overhead)."""
    return arrival_weight(r, OVERHEAD) - len(DIGEST) - OVERHEAD


# -- plain text: exact -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "r",
    [
        ref(),
        ref(event_id="x" * 200, source="s" * 200, uri="u" * 4096, checksum="c" * 4096),
        ref(fingerprint="f" * 300),
        ref(event_id="a b ~!#$%&'()*+,-./:;<=>?@[]^_`{|}", uri=" "),
        ref(fingerprint=""),
    ],
    ids=["small", "largest", "long-fingerprint", "punctuation", "empty-fingerprint"],
)
def test_plain_text_weighs_exactly_its_encoded_strings_plus_digest_and_overhead(
    r: dict[str, Any],
) -> None:
    """Printable ASCII without quotes or backslashes: the weight is the exact number of bytes
    its strings take as JSON (id, checksum and fingerprint twice), plus the digest and the
    per-arrival overhead, nothing more."""
    assert arrival_weight(r, OVERHEAD) == (
        string_bytes(r, r["schema_fingerprint"]) + len(DIGEST) + OVERHEAD
    )


def test_plain_text_without_a_fingerprint_weighs_as_with_an_empty_one() -> None:
    """No fingerprint (plain text) weighs exactly as an empty fingerprint: the four bytes of
    its two empty strings stand for the missing one."""
    without = ref(fingerprint=None)
    assert arrival_weight(without, OVERHEAD) == arrival_weight(ref(fingerprint=""), OVERHEAD)
    assert strings_of(without) == string_bytes(without, "") == string_bytes(without, None) + 4


def test_the_weight_grows_with_each_field_by_its_encoded_length() -> None:
    """A longer id adds its length twice, a longer uri once, a fingerprint twice (plain)."""
    base = arrival_weight(ref(), 0)
    assert arrival_weight(ref(event_id="a1" + "x" * 10), 0) == base + 20
    assert arrival_weight(ref(uri="s3://lake/clicks/a1" + "x" * 10), 0) == base + 10
    assert arrival_weight(ref(fingerprint="sha256:fp" + "x" * 10), 0) == base + 20
    assert arrival_weight(ref(), 100) == base + 100


# -- anything else: an upper bound, tight on control characters -------------------------------

AWKWARD = {
    "quote": ref(uri='s3://lake/"quoted"'),
    "backslash": ref(uri="s3://lake\\a1"),
    "accent": ref(source="zürich"),
    "emoji": ref(checksum="sha256:😀"),
    "newline": ref(event_id="a\n1"),
    "control": ref(fingerprint="fp\x01"),
    "delete": ref(uri="s3://\x7f"),
    "line-separator": ref(uri="s3://\u2028"),
    "quote-no-fingerprint": ref(uri='"', fingerprint=None),
    "accent-no-fingerprint": ref(source="é", fingerprint=None),
    "worst-everywhere": ref('"\\', "é\x01", '"' * 50, "\\" * 50, "\x00" * 9),
}


@pytest.mark.parametrize("r", AWKWARD.values(), ids=AWKWARD.keys())
def test_text_that_needs_escaping_or_is_not_ascii_is_bounded_from_above(
    r: dict[str, Any],
) -> None:
    """Quotes, backslashes, control and non-ASCII characters: the weight is never below the
    bytes orjson writes for the strings (plus the digest and the overhead)."""
    assert strings_of(r) >= string_bytes(r, r["schema_fingerprint"])


@pytest.mark.parametrize(
    ("r", "exact"),
    [
        (ref(uri="\x01", fingerprint=None), 0),
        (ref(uri="\x01\x02\x03", fingerprint="\x1f" * 5), 0),
        (ref(event_id="\x00", checksum="\x02\x03"), 0),
        (ref(source="\x1e" * 4), 0),
        # one character escapes to 2 bytes only: 6 counted, 2 written, 4 bytes to spare
        (ref(uri='"'), 4),
        (ref(uri="\\", fingerprint=None), 4),
        # é is 2 bytes of UTF-8 written as is: 12 counted
        (ref(source="é"), 10),
    ],
    ids=["one", "uri-and-fingerprint", "id-and-checksum", "source", "quote", "backslash", "é"],
)
def test_the_upper_bound_is_tight_on_control_characters(r: dict[str, Any], exact: int) -> None:
    r"""Outside plain text each field counts 6 bytes per UTF-8 byte plus its quotes; fields
    that are plain text still count exactly. Control characters escape to six bytes
    (\u00XX), so fields made of them weigh exactly what is written; other escapes leave the
    stated slack. A missing fingerprint counts nothing here."""
    assert strings_of(r) == string_bytes(r, r["schema_fingerprint"]) + exact


# -- against a real manifest and decision ------------------------------------------------------

H = 3_600_000
SPEC = DatasetSpec("clicks", window_ms=H, out_of_orderness_ms=0, allowed_lateness_ms=0)


def fired_bytes(arrivals: list[dict[str, Any]]) -> tuple[int, int]:
    """(what the window's arrivals weigh, bytes of the manifest and decision it fires)."""
    gate = DataGate(
        DataGateSpec(GateInfo("g", 1, "d"), schema_fingerprint=Fingerprint("sha256:fp")),
        "data.arrivals",
        "1",
    )
    windows = DatasetWindows(SPEC, gate)
    for i, a in enumerate(arrivals):
        (accepted, *_) = windows.handle_arrival(decode(orjson.dumps(a)), 3, 1_000_000 + i)
        assert type(accepted).__name__ == "Accepted"
    weight = windows.windows[min(windows.windows)].weight
    fired = windows.handle_watermark(decode(orjson.dumps(factories.watermark("w"))))
    (window,) = [e for e in fired if isinstance(e, WindowFired)]
    (decision,) = [e.decision for e in fired if isinstance(e, Decided)]
    return weight, len(wire_json(window.wire)) + len(decision_wire(decision))


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"schema_fingerprint": "sha256:other"},
        {"uri": 's3://x/"é\\\x01\n'},
        {"source": "zürich\x01", "checksum": '"' * 100},
        {"schema_fingerprint": "\x00" * 100},
    ],
    ids=["plain", "fingerprint", "escapes", "new-source", "control-fingerprint"],
)
def test_an_arrival_adds_no_more_than_its_weight_to_manifest_and_decision(
    extra: dict[str, Any],
) -> None:
    """Adding an arrival to a window grows its encoded manifest plus its decision (fingerprint
    check included) by at most the weight the window records for it."""
    first = factories.arrival("a0", schema_fingerprint="sha256:fp")
    second = {**factories.arrival("a1"), **extra}
    weight_1, bytes_1 = fired_bytes([first])
    weight_2, bytes_2 = fired_bytes([first, second])
    assert 0 < bytes_2 - bytes_1 <= weight_2 - weight_1
