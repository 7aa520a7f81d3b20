"""The README's Python example runs as printed, against a broker of its own (the embedded one,
started for this test), and does what it says: two events acknowledged, the typo refused."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from orchestrator.kafka.embedded import EmbeddedBroker
from tests.conftest import ROOT, run_cli

EXAMPLE = re.search(
    r"\*\*From Python: `orchestrator.client`\.\*\*.*?```python\n(.*?)```",
    (ROOT / "README.md").read_text(),
    flags=re.DOTALL,
)


@pytest.fixture
def broker() -> Iterator[str]:
    b = EmbeddedBroker()
    b.start()
    try:
        yield b.bootstrap
    finally:
        b.stop()


def test_the_readme_client_example_runs_as_printed(broker: str) -> None:
    assert EXAMPLE, "the README's client section has a Python example"
    assert run_cli("topics", "apply", "--broker", broker).returncode == 0
    out = subprocess.run(
        [sys.executable, "-c", EXAMPLE.group(1)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ORCHESTRATOR_BROKER": broker},
        check=False,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "E_UNKNOWN_DATASET"
    assert [line.split()[0] for line in lines[1:]] == ["data.arrival", "data.watermark"]
    assert all(line.split()[-1] == "clicks" for line in lines[1:])
