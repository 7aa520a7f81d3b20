"""Logs never carry secrets: signature-like fields are redacted by the processor chain."""

import pytest

from orchestrator.logging import _redact


@pytest.mark.parametrize("field", ["signature", "key", "secret", "password", "token"])
def test_secret_fields_are_redacted(field: str) -> None:
    """signature, key, secret, password and token never reach the output; other fields do."""
    out = _redact(None, "info", {"event": "x", field: "s3cr3t", "event_id": "e1"})
    assert out[field] == "[redacted]"
    assert out["event_id"] == "e1" and out["event"] == "x"
