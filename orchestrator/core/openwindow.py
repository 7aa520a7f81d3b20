"""One open window of a dataset and what it becomes: the arrivals it holds (with what each
weighs in its manifest and decision), and the manifest of a fired revision (SPEC §3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from orchestrator.contracts.events import ColumnProfile, DataArrival
from orchestrator.contracts.records import ArrivalRef, WindowManifest
from orchestrator.contracts.trusted import trusted
from orchestrator.core import profile as profiles
from orchestrator.core.digest import digest, digest_of_fields
from orchestrator.core.policy import DatasetSpec, ProfileColumn
from orchestrator.core.timeutil import from_ms


@dataclass(slots=True)
class OpenWindow:
    start_ms: int
    window_id: str
    revision: int = 0
    #: sum of the record counts of its arrivals (bounded by INT64_MAX)
    total: int = 0
    #: decision id of the latest gate decision (what the next revision's decision supersedes)
    decision: str | None = None
    #: what its arrivals weigh in its manifest and decision (`arrival_weight`), not stored
    weight: int = 0
    #: arrivals refused because the window was full: its manifest says so, its gate rejects it
    refused: int = 0
    #: event_id -> the arrival's ArrivalRef in JSON form (also its changelog value): plain dicts
    #: on the per-event path, validated into ArrivalRef models once, when a manifest is built.
    arrivals: dict[str, dict[str, Any]] = field(default_factory=dict)

    def entry(self) -> dict[str, Any]:
        """The window's changelog value (its arrivals have keys of their own)."""
        if self.refused:
            return {"r": self.revision, "d": self.decision, "x": self.refused}
        return {"r": self.revision, "d": self.decision}


def _without_none(ref: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ref.items() if v is not None}


def _json_len(text: str) -> int:
    """Bytes of `text` as a JSON string (quotes and escapes included), exactly for plain text
    and as an upper bound otherwise (a character escapes to at most 6 bytes)."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return len(text) + 2
    return 6 * len(text.encode()) + 2


def arrival_weight(ref: dict[str, Any], overhead: int) -> int:
    """An upper bound of the bytes one arrival adds to its window's manifest (its ref and its
    checksum again) and decision (its event id, offset and fingerprint): what
    `max_window_bytes` bounds. `overhead`: the per-arrival bytes of the decision's offset.
    Plain text (printable ASCII without quotes or backslashes, nearly always) is measured in
    one pass over all the fields; anything else field by field."""
    eid: str = ref["event_id"]
    cs: str = ref["checksum"]
    fp: str | None = ref["schema_fingerprint"]
    text = (
        eid + ref["source"] + ref["uri"] + cs
        if fp is None
        else eid + ref["source"] + ref["uri"] + cs + fp
    )
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        strings = len(text) + len(eid) + len(cs) + (0 if fp is None else len(fp)) + 16
    else:
        strings = (
            _json_len(eid) * 2
            + _json_len(ref["source"])
            + _json_len(ref["uri"])
            + _json_len(cs) * 2
            + (_json_len(fp) * 2 if fp is not None else 0)
        )
    if "profile" in ref:  # in the manifest only, where it is written as it is held
        strings += len(orjson.dumps(ref["profile"]))
    return strings + len(ref["digest"]) + overhead


def held_arrival(value: Any) -> tuple[ArrivalRef, dict[str, Any]]:
    """An arrival's changelog value, validated (the changelog is input), and the form a window
    holds it in: ArrivalRef's JSON form, its profile's figures without None."""
    ref = ArrivalRef.model_validate(value)
    held = ref.model_dump(mode="json", exclude={"profile"})
    if ref.profile is not None:
        held["profile"] = {
            c: p.model_dump(mode="json", exclude_none=True) for c, p in ref.profile.items()
        }
    return ref, held


def keep_profile(
    columns: tuple[ProfileColumn, ...],
    sent: dict[str, ColumnProfile] | None,
    ref: dict[str, Any],
) -> str | None:
    """Put into the arrival's `ref` the part of its profile its window keeps: the columns the
    policy declares, in its order, with the bins and quantiles it declares. Returns why the
    profile does not match the policy, if it does not (then `ref` is left as it was)."""
    if sent is None or not columns:
        return None
    kept: dict[str, dict[str, Any]] = {}
    for col in columns:
        p = sent.get(col.name)
        if p is None:
            continue
        out = p.model_dump(mode="json", exclude_none=True, exclude={"bins", "quantiles"})
        if p.count > 0:
            for part, declared in (("bins", col.edges), ("quantiles", col.probs)):
                if declared is None:
                    continue
                n = len(declared) + (part == "bins")
                values = getattr(p, part)
                if values is None or len(values) != n:
                    got = "none" if values is None else str(len(values))
                    return (
                        f"field 'profile.{col.name}.{part}': the policy declares {n}, "
                        f"the arrival has {got}"
                    )
                out[part] = list(values)
        kept[col.name] = out
    if kept:
        ref["profile"] = kept
    return None


def _shaped(col: ProfileColumn, p: dict[str, Any]) -> bool:
    """A kept column profile has the bins and quantiles the column declares now (one kept
    under an earlier declaration, in a window open across a policy change, is left out)."""
    if p["count"] == 0:
        return True
    bins, quantiles = p.get("bins"), p.get("quantiles")
    return (col.edges is None or (bins is not None and len(bins) == len(col.edges) + 1)) and (
        col.probs is None or (quantiles is not None and len(quantiles) == len(col.probs))
    )


def merged_profile(
    columns: tuple[ProfileColumn, ...], arrivals: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The window's profile: per declared column, the merge of its arrivals' (in the
    manifest's arrival order); a column no arrival profiled is left out."""
    out = {}
    for col in columns:
        parts = [
            p
            for a in arrivals
            if (p := a.get("profile", {}).get(col.name)) is not None and _shaped(col, p)
        ]
        if parts:
            out[col.name] = profiles.merge(parts, col.probs)
    return out


def arrival_digest(event: DataArrival) -> str:
    """Content digest of an arrival: equal for the same content however it was serialized.

    It is `digest(to_jsonable(event))`, computed without pydantic's serializer (this runs once
    per arrival): the validated fields, None ones left out, go straight to the canonical JSON,
    whose times orjson writes as the serializer does (UTC with `Z`, microseconds when not 0).
    `tests/unit/test_digest_fast.py` proves the two equal on generated arrivals."""
    fields = {k: v for k, v in event.__dict__.items() if v is not None}
    if event.profile is not None:
        fields["profile"] = {
            c: p.model_dump(mode="json", exclude_none=True) for c, p in event.profile.items()
        }
    return digest_of_fields(fields)


def manifest(
    spec: DatasetSpec, window: OpenWindow, wm: int
) -> tuple[WindowManifest, dict[str, Any]]:
    """The fired revision's manifest, and its wire fields built from the same values.

    The wire fields are what `encode(manifest)` would write, as JSON-ready values in wire
    order, without the model's serializer; the pipeline writes their bytes (tests check the
    two are byte-equal on every manifest the property and golden tests fire)."""
    arrivals = sorted(
        window.arrivals.values(), key=lambda a: (a["partition"], a["offset"], a["event_id"])
    )
    inputs = sorted([a["event_id"], a["digest"]] for a in arrivals)
    revision = window.revision
    fields: dict[str, Any] = {
        "type": "data.window",
        "v": 1,
        "window_id": window.window_id,
        "dataset": spec.name,
        "start": from_ms(window.start_ms),
        "end": from_ms(window.start_ms + spec.window_ms),
        "revision": revision,
        "supersedes_revision": revision - 1 if revision > 1 else None,
        "watermark": from_ms(wm),
        "arrivals": arrivals,
        "record_total": window.total,
        "sources": sorted({a["source"] for a in arrivals}),
        "checksums": [a["checksum"] for a in arrivals],
        "inputs_digest": digest(inputs),
    }
    if window.refused:
        fields["refused"] = window.refused
    if spec.profile:
        merged = merged_profile(spec.profile, arrivals)
        if merged:
            fields["profile"] = merged
    wire = dict(fields)
    if revision == 1:
        del wire["supersedes_revision"]
    wire["arrivals"] = [
        a if a["schema_fingerprint"] is not None else _without_none(a) for a in arrivals
    ]
    return _built(fields), wire


def _ref(a: dict[str, Any]) -> ArrivalRef:
    """An arrival a window holds as its ArrivalRef: built from its fields, which come from a
    validated DataArrival or a validated changelog value (`held_arrival`); one with a profile
    is validated (its columns become ColumnProfile models)."""
    if "profile" in a:
        return ArrivalRef.model_validate(a)
    # its keys are ArrivalRef's fields in their order (the ref `handle_arrival` builds, or
    # `held_arrival`'s model_dump), the profile left out
    ref: ArrivalRef = trusted(ArrivalRef, {**a, "profile": None}, set(a))
    return ref


def _built(fields: dict[str, Any]) -> WindowManifest:
    """`WindowManifest.model_validate(fields)` without validating again what the core built
    from validated values (a window of thousands of arrivals validated 2.4 µs each: 8% of the
    worker's time). `tests/unit/test_event_time_properties.py` checks the two equal."""
    m: WindowManifest = trusted(
        WindowManifest,
        {
            "type": "data.window",
            "v": 1,
            "window_id": fields["window_id"],
            "dataset": fields["dataset"],
            "start": fields["start"],
            "end": fields["end"],
            "revision": fields["revision"],
            "supersedes_revision": fields["supersedes_revision"],
            "watermark": fields["watermark"],
            "arrivals": [_ref(a) for a in fields["arrivals"]],
            "record_total": fields["record_total"],
            "sources": fields["sources"],
            "checksums": fields["checksums"],
            "inputs_digest": fields["inputs_digest"],
            "refused": fields.get("refused"),
            "profile": fields.get("profile"),
        },
        set(fields),
    )
    return m
