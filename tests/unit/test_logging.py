"""Logs never carry secrets: signature-like fields are redacted by the processor chain."""

from orchestrator.logging import _redact


def test_secret_fields_are_redacted() -> None:
    """signature, key, secret, password and token never reach the output."""
    out = _redact(
        None, "info", {"event": "x", "signature": "abc", "key": "k", "token": "t", "event_id": "e1"}
    )
    assert out["signature"] == out["key"] == out["token"] == "[redacted]"
    assert out["event_id"] == "e1"
