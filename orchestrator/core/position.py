"""The input position every partitioned engine keeps with its state."""

from __future__ import annotations

from mypy_extensions import mypyc_attr

from orchestrator.core.effects import StatePut

#: Changelog key of a partition's position: the next input offset not yet reflected in state.
POSITION_KEY = "\x1fpos"


#: subclassed by interpreted shells (pipeline Cursor, ModelPartition) when compiled with mypyc
@mypyc_attr(allow_interpreted_subclasses=True)
class Positioned:
    """The next input offset this state has not seen: recovery skips the offsets below it, and
    the position is checkpointed last, with the state it follows."""

    position: int = 0

    def skip(self, offset: int) -> None:
        """Note an input offset that carried nothing for the core (e.g. undecodable bytes)."""
        self.position = offset + 1

    def position_entry(self) -> StatePut:
        return StatePut(POSITION_KEY, self.position)
