"""Which records replay reads, and whose decisions it compares (`--from-offset`, `--to-offset`,
`--since`, `--until`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.kafka.read import TimedRecord

NONE_IN_RANGE = 1 << 62


@dataclass(frozen=True)
class Range:
    from_offsets: dict[int, int] = field(default_factory=dict)
    to_offsets: dict[int, int] = field(default_factory=dict)
    since_ms: int | None = None
    until_ms: int | None = None

    @property
    def whole(self) -> bool:
        """No bound at all: every record of every topic."""
        return not (self.from_offsets or self.to_offsets) and (
            self.since_ms is None and self.until_ms is None
        )

    def named(self) -> set[int]:
        """The partitions an offset range names (empty: all)."""
        return set(self.from_offsets) | set(self.to_offsets)

    def cursor(self, partition: int, use_offsets: bool) -> Bounds:
        return Bounds(
            lo=self.from_offsets.get(partition, 0) if use_offsets else 0,
            to_offset=self.to_offsets.get(partition) if use_offsets else None,
            since_ms=self.since_ms,
            until_ms=self.until_ms,
        )


@dataclass
class Bounds:
    """The bounds of one partition, found while it is read: records are read up to `to_offset`
    and up to the first record stamped after `until_ms`; decisions are compared from `lo`, the
    first offset stamped at or after `since_ms` (and at or after `--from-offset`)."""

    lo: int = 0
    to_offset: int | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    hi: int = -1
    done: bool = False

    def __post_init__(self) -> None:
        self._lo_found = self.since_ms is None

    def take(self, chunk: list[TimedRecord]) -> list[TimedRecord]:
        """The records of `chunk` inside the upper bound (`done` once it is passed)."""
        out = []
        for rec in chunk:
            offset, ts = rec[0], rec[3]
            if (self.to_offset is not None and offset > self.to_offset) or (
                self.until_ms is not None and ts > self.until_ms
            ):
                self.done = True
                break
            if not self._lo_found and self.since_ms is not None and ts >= self.since_ms:
                self.lo, self._lo_found = max(self.lo, offset), True
            out.append(rec)
            self.hi = offset
        return out

    @property
    def pair(self) -> tuple[int, int]:
        """(lowest trigger offset compared, highest offset read)."""
        return (self.lo if self._lo_found else NONE_IN_RANGE), self.hi


def parse_offsets(values: list[str] | None, flag: str) -> dict[int, int]:
    out: dict[int, int] = {}
    for v in values or []:
        p, sep, o = v.partition(":")
        if not sep or not p.isdigit() or not o.isdigit():
            raise ValueError(f"{flag} {v!r}: expected PARTITION:OFFSET, e.g. 0:120")
        out[int(p)] = int(o)
    return out
