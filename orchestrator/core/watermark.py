"""Source and dataset watermarks (SPEC §3). Both only ever move forward."""

from __future__ import annotations

from orchestrator.core.policy import ORCHESTRATOR_SOURCE

#: Stands for minus infinity: a required source with no events yet holds the dataset watermark here.
NEG_INF = -(2**62)


class Watermarks:
    """S(D,s) per source and WM(D) for one dataset."""

    __slots__ = ("_value", "required", "sources")

    def __init__(self, required: frozenset[str]) -> None:
        self.required = required
        self.sources: dict[str, int] = {}
        self._value = NEG_INF

    @property
    def value(self) -> int:
        """WM(D), NEG_INF before anything is known."""
        return self._value

    def observe(self, source: str, candidate_ms: int) -> bool:
        """Raise S(D, source) to `candidate_ms` if higher; True if S changed."""
        if candidate_ms <= self.sources.get(source, NEG_INF):
            return False
        self.sources[source] = candidate_ms
        # No max() with the value before: every term of the formula only rises, so WM(D) never
        # goes back (pinned for any order of observations by test_watermark_pinned.py).
        self._value = self._compute()
        return True

    def _compute(self) -> int:
        if self.required:
            wm = min(self.sources.get(s, NEG_INF) for s in self.required)
        else:
            wm = max(self.sources.values(), default=NEG_INF)
        # An idle-source watermark appended by the orchestrator speaks for the whole dataset.
        return max(wm, self.sources.get(ORCHESTRATOR_SOURCE, NEG_INF))
