"""Which records replay reads, and whose decisions it compares (`--from-offset`, `--to-offset`,
`--since`, `--until`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.kafka.read import TimedRecord


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

    def upper(self, partition: int, records: list[TimedRecord], use_offsets: bool) -> int:
        """Highest offset to read (inclusive)."""
        hi = records[-1][0] if records else -1
        if use_offsets and partition in self.to_offsets:
            hi = min(hi, self.to_offsets[partition])
        if self.until_ms is not None:
            hi = min(hi, max((o for o, _, _, ts in records if ts <= self.until_ms), default=-1))
        return hi

    def lower(self, partition: int, records: list[TimedRecord], use_offsets: bool) -> int:
        """Lowest trigger offset whose decisions are compared."""
        lo = 0
        if use_offsets and partition in self.from_offsets:
            lo = self.from_offsets[partition]
        if self.since_ms is not None:
            lo = max(
                lo, min((o for o, _, _, ts in records if ts >= self.since_ms), default=1 << 62)
            )
        return lo


def parse_offsets(values: list[str] | None, flag: str) -> dict[int, int]:
    out: dict[int, int] = {}
    for v in values or []:
        p, sep, o = v.partition(":")
        if not sep or not p.isdigit() or not o.isdigit():
            raise ValueError(f"{flag} {v!r}: expected PARTITION:OFFSET, e.g. 0:120")
        out[int(p)] = int(o)
    return out
