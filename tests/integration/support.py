"""What the integration tests share: a worker with this tier's defaults, reading a topic's
JSON records, writing events to a file for `produce`, and asking an HTTP endpoint."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from orchestrator.catalog.topics import Catalog
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.read import read_topic
from orchestrator.simulate import EXAMPLE_KEYS
from orchestrator.testing import Worker
from tests.conftest import ROOT, record_time_env

#: the example actors' keys, where the shipped gates/access.yaml looks for them
EXAMPLE_KEY_ENV = {
    "ORCHESTRATOR_KEY_ALICE": EXAMPLE_KEYS["alice"].decode(),
    "ORCHESTRATOR_KEY_BOB": EXAMPLE_KEYS["bob"].decode(),
}


def make_worker(
    bootstrap: str | None,
    topics: Path,
    app_id: str,
    log: Path,
    *,
    gates: Path = ROOT / "gates",
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
) -> Worker:
    """A worker on the shipped gates unless told otherwise, run in its log's directory, with
    the record times its broker needs (the embedded one: the senders')."""
    extra = {**(record_time_env(bootstrap) if bootstrap else {}), **(env or {})}
    return Worker(bootstrap, topics, gates, app_id, log, env=extra, args=args)


def read(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every record of `topic` with a value, parsed as JSON, partition by partition."""
    return [
        orjson.loads(r[2]) for _, r in asyncio.run(read_topic(Connection(bootstrap), topic)) if r[2]
    ]


def write_lines(path: Path, objs: list[dict[str, Any]]) -> Path:
    """`objs` as JSON lines in `path`, the input `orchestrator produce` reads."""
    path.write_bytes(b"\n".join(orjson.dumps(o) for o in objs) + b"\n")
    return path


def http(url: str, timeout: float = 5) -> tuple[int, bytes]:
    """(status, body) of a GET; (0, b"") while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


def observed(bootstrap: str, catalog: Catalog) -> dict[str, Any]:
    windows: dict[tuple[str, int], tuple[str, int, list[str]]] = {}
    conflicts = []
    for m in read(bootstrap, catalog.name("windows")):
        key = (m["window_id"], m["revision"])
        value = (
            m["inputs_digest"],
            m["record_total"],
            sorted(a["event_id"] for a in m["arrivals"]),
        )
        if key in windows and windows[key] != value:
            conflicts.append(key)
        windows[key] = value
    late = sorted({r["event"]["event_id"] for r in read(bootstrap, catalog.name("late"))})
    dlq = read(bootstrap, catalog.name("dlq"))
    return {"windows": windows, "late": late, "dlq": dlq, "conflicts": conflicts}
