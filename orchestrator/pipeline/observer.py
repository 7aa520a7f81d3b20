"""What a shell tells whoever watches it: the worker's metrics and logs. Replay and tests
watch nothing (this class as it is: every hook does nothing)."""

from __future__ import annotations

from typing import Generic, TypeVar

from orchestrator.pipeline.records import Applied, InputRecord

E = TypeVar("E")


class Observer(Generic[E]):
    """The hooks of a shell, each a no-op here: an observer overrides the ones it needs."""

    def applied(self, applied: Applied, record: InputRecord) -> None:
        """A record was applied (its outputs handed out, its state staged)."""

    def batch_done(self) -> None:
        """A batch of one partition is done (metrics are counted per batch, not per record)."""

    def refused(self, code: str) -> None:
        """The shell itself sent a record to the dlq with `code` (E_INTERNAL: the logic raised;
        E_OUTPUT_TOO_LARGE: an output would not fit its topic), its state rolled back."""

    def restored(self, engine: E) -> None:
        """An engine was rebuilt from the changelog (recovery, or a failed record rolled back)."""

    def forgotten(self, engine: E) -> None:
        """A partition's engine was dropped (its partition went to another worker)."""
