"""Time at the core's edge: RFC 3339 <-> epoch milliseconds, ISO 8601 durations, window ids."""

from __future__ import annotations

import re
from datetime import UTC, datetime

MS_PER_S = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d{1,3})?)S)?)?$"
)


def parse_duration_ms(text: str) -> int:
    """Parse an ISO 8601 duration with days, hours, minutes and seconds into milliseconds.

    Years and months are refused: they have no fixed length, so a window could not be aligned.
    """
    m = _DURATION.match(text)
    if not m or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(
            f"{text!r} is not an ISO 8601 duration of days/hours/minutes/seconds (e.g. PT1H30M)"
        )
    days = int(m.group("d") or 0)
    hours = int(m.group("h") or 0)
    minutes = int(m.group("m") or 0)
    seconds = float(m.group("s") or 0)
    return round(((days * 24 + hours) * 60 + minutes) * 60_000 + seconds * 1000)


def format_duration_s(seconds: int) -> str:
    """Whole seconds as ISO 8601 with hours, minutes and seconds only, zero parts left out."""
    if seconds <= 0:
        raise ValueError("a window size must be a positive whole number of seconds")
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "PT" + (f"{h}H" if h else "") + (f"{m}M" if m else "") + (f"{s}S" if s else "")


def to_ms(dt: datetime) -> int:
    """An aware datetime as integer epoch milliseconds (UTC)."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: times must carry an offset")
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_ms(ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def format_rfc3339_ms(ms: int) -> str:
    """Epoch ms as RFC 3339 UTC with a Z; milliseconds only when not whole seconds."""
    dt = from_ms(ms)
    if ms % 1000:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339_ms(text: str) -> int:
    """RFC 3339 with an offset (or Z) to epoch milliseconds."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return to_ms(dt)


def window_start_ms(event_ms: int, size_ms: int) -> int:
    """Start of the tumbling window (aligned to the Unix epoch) that holds `event_ms`."""
    return event_ms - (event_ms % size_ms)


def window_id(dataset: str, start_ms: int, size_ms: int) -> str:
    """`<dataset>/<start>/<W>`, e.g. `clicks/2026-11-23T10:00:00Z/PT1H` (SPEC §3)."""
    return f"{dataset}/{format_rfc3339_ms(start_ms)}/{format_duration_s(size_ms // MS_PER_S)}"


def parse_window_id(wid: str) -> tuple[str, int, int]:
    """Inverse of `window_id`: (dataset, start_ms, size_ms). Raises ValueError if malformed."""
    dataset, sep, rest = wid.rpartition("/")
    if not sep:
        raise ValueError(f"{wid!r} is not a window id")
    dataset, sep, start = dataset.rpartition("/")
    if not sep or not dataset:
        raise ValueError(f"{wid!r} is not a window id")
    return dataset, parse_rfc3339_ms(start), parse_duration_ms(rest)


def dataset_start(window_id: str) -> tuple[str, int]:
    """(dataset, start ms) of a window id; ("", 0) if it is not one (a model's lineage may
    name anything: such a window belongs to no dataset the gate knows)."""
    try:
        dataset, start, _ = parse_window_id(window_id)
    except ValueError:
        return "", 0
    return dataset, start
