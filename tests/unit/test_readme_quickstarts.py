"""The README's managed-Kafka quick-starts are settings that the orchestrator takes: every
block, as written, builds the connection every client uses (no broker is asked)."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from orchestrator.kafka.connect import connection
from orchestrator.settings import Settings
from tests.conftest import ROOT

SECTION = (ROOT / "README.md").read_text().split("## Pointing it at an existing Kafka")[1]
SECTION = SECTION.split("\n## ")[0]
BLOCKS = re.findall(r"```bash\n(.*?)```", SECTION, flags=re.DOTALL)


def exports(block: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["export"]:
            out.update(w.split("=", 1) for w in words[1:])  # type: ignore[misc]
    return out


QUICKSTARTS = [
    e for e in (exports(b) for b in BLOCKS) if "ORCHESTRATOR_KAFKA_SECURITY_PROTOCOL" in e
]


def test_there_is_a_quickstart_per_managed_kafka() -> None:
    mechanisms = {e["ORCHESTRATOR_KAFKA_SASL_MECHANISM"] for e in QUICKSTARTS}
    assert mechanisms == {"PLAIN", "OAUTHBEARER", "SCRAM-SHA-512", "SCRAM-SHA-256"}
    for name in ("Confluent Cloud", "Amazon MSK", "Redpanda Cloud"):
        assert f"**{name}**" in SECTION


@pytest.mark.parametrize("env", QUICKSTARTS, ids=lambda e: e["ORCHESTRATOR_KAFKA_SASL_MECHANISM"])
def test_each_quickstart_builds_a_connection(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in list(os.environ):
        if key.startswith("ORCHESTRATOR_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no orchestrator.toml of the repository's
    for key, given in env.items():
        value = given
        if key.endswith("_FILE"):  # the secret the example names: a file of the right mode
            secret = tmp_path / Path(given).name
            secret.write_text("EXAMPLE-secret-for-a-test\n")
            secret.chmod(0o600)
            value = str(secret)
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ORCHESTRATOR_BROKER", "broker.example:9092")  # the OAuth block has none
    settings = Settings()
    assert settings.kafka_security_protocol == env["ORCHESTRATOR_KAFKA_SECURITY_PROTOCOL"]
    conn = connection(settings, settings.broker)
    assert "SASL_SSL" in repr(conn)
