"""The processes the bench starts and what it reads of them: the real worker (L6) with its
metrics and memory, `orchestrator replay --processes 1`, and who used the machine's cores."""

from __future__ import annotations

import atexit
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import orjson

from bench import ROOT
from bench.results import CoreSaw, CpuShareFigures, ReplayProcessRun, WorkerRun
from orchestrator.kafka.clients import Connection
from orchestrator.testing import Worker

# -- CPU accounting ---------------------------------------------------------------------------


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, over all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


class CpuShares:
    """Who used the machine's cores between `start()` and `stop()`: the broker, the worker, this
    process (the load generator), and everything else. Shares of all cores' time, so 1.0 is
    every core busy for the whole span."""

    def __init__(self, broker_pid: int | None, worker: WorkerProc) -> None:
        self.broker_pid, self.worker = broker_pid, worker

    def _sample(self) -> tuple[float, float, float, float, float, float]:
        broker = proc_cpu_s(self.broker_pid) if self.broker_pid else 0.0
        me = resource.getrusage(resource.RUSAGE_SELF)
        busy, total = machine_cpu_s()
        return time.monotonic(), broker, self.worker.cpu_s(), me.ru_utime + me.ru_stime, busy, total

    def start(self) -> None:
        self.t0 = self._sample()

    def stop(self) -> CpuShareFigures:
        t1 = self._sample()
        wall, broker, worker, gen, busy, total = (b - a for a, b in zip(self.t0, t1, strict=True))
        cores = total / wall if wall else 1.0
        capacity = wall * cores
        broker_share, worker_share, generator_share, machine_share = (
            seconds / capacity for seconds in (broker, worker, gen, busy)
        )
        out = CpuShareFigures(
            cores=round(cores, 2),
            seconds=round(wall, 2),
            broker=broker_share,
            worker=worker_share,
            generator=generator_share,
            machine=machine_share,
            other=max(0.0, machine_share - broker_share - worker_share - generator_share),
        )
        if not self.broker_pid:
            del out["broker"]
        return out


# -- the worker (L6) --------------------------------------------------------------------------


class WorkerProc(Worker):
    """The bench's worker: `orchestrator.testing.Worker` (the process, its /metrics), started
    at once with the code of `root`, warnings only in its log; what bench reads of it besides
    (its CPU seconds, RSS, the events it has processed), and a stop when the bench exits."""

    #: workers started and not stopped yet: stopped when the bench exits, however it exits (a
    #: bench that failed mid-run once left two workers spinning against their vanished broker,
    #: and they took ~11% of the cores from the next bench run)
    live: set[WorkerProc] = set()
    #: a worker busy on every core may answer /metrics late
    http_timeout = 3.0

    def __init__(
        self,
        bootstrap: str,
        topics: Path,
        gates: Path,
        app_id: str,
        logfile: Path,
        guarantee: str = "at_least_once",
        root: Path = ROOT,
        processes: int = 1,
    ) -> None:
        #: `worker --processes N`: N processes, process i on the web port + i
        self.processes = processes
        more = ["--processes", str(processes)] if processes > 1 else []
        super().__init__(
            bootstrap,
            topics,
            gates,
            app_id,
            logfile,
            args=["--log-level", "warning", "--processing-guarantee", guarantee, *more],
            # the code of `root` (bench.ab runs another revision)
            env={"PYTHONPATH": str(root)},
            cwd=root,
        )
        self.start()

    def start(self) -> None:
        super().start()
        WorkerProc.live.add(self)

    @property
    def pid(self) -> int:
        assert self.proc, "not started"
        return self.proc.pid

    def pids(self) -> list[int]:
        """The worker's processes: the one started and, with --processes, its children."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        children = [int(p) for p in path.read_text().split()] if path.exists() else []
        return [self.pid, *children]

    def metric(self, name: str, labels: str = "") -> float:
        """Summed over the processes' endpoints (-1.0 while one of them does not answer)."""
        base, total = self.port, 0.0
        try:
            for i in range(self.processes):
                self.port = base + i
                value = super().metric(name, labels)
                if value < 0:
                    return -1.0
                total += value
        finally:
            self.port = base
        return total

    def core_saw(self) -> CoreSaw:
        """What the worker's core made of the data: duplicates, conflicts, too-late events."""
        return CoreSaw(
            duplicates=int(self.metric("orchestrator_duplicates_total")),
            conflicts=int(self.metric("orchestrator_dlq_total", 'code="E_DUPLICATE_CONFLICT"')),
            too_late=int(self.metric("orchestrator_late_total")),
        )

    def events(self) -> float:
        return self.metric("orchestrator_events_total")

    def cpu_s(self) -> float:
        return sum(proc_cpu_s(pid) for pid in self.pids())

    def rss_mb(self) -> float:
        """Of the worker process (with --processes, of all of them together)."""
        total = 0.0
        for pid in self.pids() if self.processes > 1 else [self.pid]:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        return total

    def wait_events(self, n: float, timeout: float) -> None:
        """Until the worker has processed `n` events. Each look at /metrics costs the worker
        ~7 ms of CPU (measured: 172 scrapes in 10 s took 1.15 s more than none), so while it
        makes progress this looks at most twice a second, and more often only as the end nears
        (by the rate between the last two looks): polled every 50 ms, the bench itself took
        ~12% of a core from the worker it measured. Until it sees progress (the worker starting
        or not reachable yet) it looks every 50 ms, so the first events are caught."""
        deadline = time.monotonic() + timeout
        last_t, last = time.monotonic(), self.events()
        while last < n:
            if time.monotonic() > deadline or not self.alive:
                raise RuntimeError(f"worker processed {self.events()} of {n} events")
            now, seen = time.monotonic(), self.events()
            if seen >= n:
                return
            wait = 0.05
            if last > 0 and seen > last and now > last_t:
                rate = (seen - last) / (now - last_t)
                wait = min(0.5, max(0.02, (n - seen) / rate / 2))
            last_t, last = now, seen
            time.sleep(wait)

    def stop(self) -> None:
        WorkerProc.live.discard(self)
        super().stop()

    @classmethod
    def stop_all(cls) -> None:
        for worker in list(cls.live):
            worker.stop()


atexit.register(WorkerProc.stop_all)


def worker_run(
    conn: Connection,
    topics: Path,
    gates: Path,
    tmp: Path,
    n: int,
    app: str,
    rss_points: list[int],
    guarantee: str = "at_least_once",
    root: Path = ROOT,
    broker: int | None = None,
    processes: int = 1,
) -> tuple[WorkerRun, dict[str, float], WorkerProc]:
    """Start a worker on pre-produced input; measure throughput from first to last event, and
    who used the cores meanwhile (`broker`: the broker's pid, when the bench started it).
    `processes`: `worker --processes N`, its events and CPU summed over the N."""
    worker = WorkerProc(
        conn.bootstrap, topics, gates, app, tmp / f"{app}.log", guarantee, root, processes
    )
    worker.wait_events(1, timeout=120)
    shares = CpuShares(broker, worker)
    shares.start()
    t0, cpu0 = time.perf_counter(), worker.cpu_s()
    start_events = worker.events()
    rss: dict[str, float] = {}
    for point in sorted(rss_points):
        if point <= n:
            worker.wait_events(point, timeout=3600)
            rss[str(point)] = worker.rss_mb()
    worker.wait_events(n, timeout=3600)
    elapsed, cpu = time.perf_counter() - t0, worker.cpu_s() - cpu0
    cpu_shares = shares.stop()
    done = n - start_events
    run = WorkerRun(
        events_per_s=done / elapsed,
        cpu_us_per_event=cpu / done * 1e6,
        seconds=elapsed,
        cpu_shares=cpu_shares,
    )
    return run, rss, worker


# -- replay in a process of its own ------------------------------------------------------------


def replay_process(
    conn: Connection, topics: Path, gates: Path, tmp: Path, root: Path = ROOT
) -> ReplayProcessRun:
    """`orchestrator replay --processes 1` as a user runs it, in a process of its own: its peak
    RSS (from the kernel's accounting of that one child), wall time and events."""
    report = tmp / f"replay-{time.time_ns()}.json"
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestrator",
            "replay",
            "--broker",
            conn.bootstrap,
            "--topics",
            str(topics),
            "--gates",
            str(gates),
            "--processes",
            "1",
            "--json",
            str(report),
        ],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    data = orjson.loads(report.read_bytes())
    events = data["summary"]["events"]
    return ReplayProcessRun(
        events=events,
        peak_rss_mb=usage.ru_maxrss / 1024,
        seconds=wall,
        events_per_s=events / wall,
        matched=data["ok"],
    )
