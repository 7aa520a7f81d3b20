"""Every Kafka client the project builds goes through `Connection` (orchestrator/kafka/clients.py),
so that TLS and SASL settings reach all of them: no module constructs an aiokafka client, or
passes `bootstrap_servers`, on its own."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

CLIENTS = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient", "AIOKafkaClient"}
ALLOWED = ROOT / "orchestrator/kafka/clients.py"


def _offences(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        if name in CLIENTS:
            out.append(f"{path.name}:{node.lineno} builds {name}")
        for kw in node.keywords:
            if kw.arg == "bootstrap_servers":
                out.append(f"{path.name}:{node.lineno} passes bootstrap_servers")
    return out


def test_no_kafka_client_is_built_outside_connection() -> None:
    files = [
        p
        for d in ("orchestrator", "bench", "examples", "scripts")
        if (ROOT / d).is_dir()
        for p in sorted((ROOT / d).rglob("*.py"))
        if p != ALLOWED
    ]
    assert len(files) > 20
    offences = [o for p in files for o in _offences(p)]
    assert offences == []


def test_the_check_finds_a_client_built_by_hand(tmp_path: Path) -> None:
    bad = tmp_path / "probe.py"
    bad.write_text(
        "from aiokafka import AIOKafkaProducer\n"
        "p = AIOKafkaProducer(bootstrap_servers='127.0.0.1:9092')\n"
    )
    assert len(_offences(bad)) == 2
