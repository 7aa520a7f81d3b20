"""The input position every partitioned engine keeps with its state."""

from __future__ import annotations

#: Changelog key of a partition's position: the next input offset not yet reflected in state.
POSITION_KEY = "\x1fpos"
