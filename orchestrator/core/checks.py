"""Gate checks as data (SPEC §4): each yields {name, passed, severity, observed, expected, code}."""

from __future__ import annotations

from typing import Any, Literal

from orchestrator.contracts.records import Check
from orchestrator.contracts.trusted import made
from orchestrator.errors import OK

Severity = Literal["error", "warn"]


def check(
    name: str, passed: bool, severity: Severity, observed: Any, expected: Any, code: str
) -> Check:
    """A check result; the code is OK whenever the check passed."""
    check_: Check = made(
        Check,
        name=name,
        passed=passed,
        severity=severity,
        observed=observed,
        expected=expected,
        code=OK if passed else code,
    )
    return check_


def gate_fails(checks: list[Check]) -> bool:
    """A failed `error` check fails the gate; a failed `warn` check is only recorded."""
    return any(not c.passed and c.severity == "error" for c in checks)
