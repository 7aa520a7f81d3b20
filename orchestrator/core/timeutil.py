"""Time at the core's edge: RFC 3339 <-> epoch milliseconds, ISO 8601 durations, window ids,
and the time forms the CLI accepts (the clock passed in)."""

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


_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RELATIVE = re.compile(r"^(?:now)?(?P<sign>[+-])(?P<n>\d{1,9})(?P<unit>[smhdw])$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
TIME_FORMS = (
    "RFC 3339 (2026-11-25T10:00:00Z, 2026-11-25T11:00:00+01:00), a date (2026-11-25: "
    "midnight UTC), now, or now minus a duration in s/m/h/d/w (-1h, -30m, -2d, now-1h)"
)


def parse_time_ms(text: str, now_ms: int) -> int:
    """A time as a person types it, to epoch ms: RFC 3339 with an offset, a bare date
    (midnight UTC), `now`, or `now` shifted by whole units (`-1h`, `now-30m`, `now+2d`).
    The wall clock comes in as `now_ms`. A ValueError says which forms are accepted."""
    t = text.strip()
    if t == "now":
        return now_ms
    rel = _RELATIVE.match(t)
    if rel:
        delta = int(rel.group("n")) * _UNIT_MS[rel.group("unit")]
        return now_ms - delta if rel.group("sign") == "-" else now_ms + delta
    try:
        if _DATE.match(t):
            return to_ms(datetime.fromisoformat(t).replace(tzinfo=UTC))
        if _RFC3339.match(t):
            return parse_rfc3339_ms(t)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date or time ({exc})") from None
    if _RFC3339.match(t + "Z"):
        raise ValueError(f"{text!r} has no UTC offset: add Z (UTC) or +HH:MM")
    raise ValueError(f"{text!r} is not a time: use {TIME_FORMS}")


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
