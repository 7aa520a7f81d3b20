"""The roles the code names a topic by; the topics' names are configuration (`topics/`). One
Literal, so that mypy checks every role the code names."""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal[
    "arrivals",
    "windows",
    "late",
    "model_updates",
    "champions",
    "commands",
    "audit",
    "training",
    "dlq",
    "eventtime_state",
    "model_log",
    "model_state",
    "snapshots",
]
#: every role, in the catalog's order
ROLES: tuple[Role, ...] = get_args(Role)
#: the roles whose records come from producers and operators
INPUT_ROLES: tuple[Role, ...] = ("arrivals", "model_updates", "commands")
