"""Progress of long CLI work (`produce`, `replay`): one line redrawn in place on a terminal, a
log line every few seconds otherwise. Short work shows nothing.

Processes forked while it runs (replay derives partitions in forked workers) add to a count in
shared memory, the parent to a plain one; a thread of the parent reports their sum.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Self, TextIO

import structlog

log = structlog.get_logger("orchestrator.progress")


class Progress:
    """Count work done (`add`) inside a `with` block; the block reports it while it runs.

    On a TTY a line `what: done/total (pct) rate` is redrawn with a carriage return every
    `redraw_s`, from `first_s` on, and ended with a newline. Otherwise a `progress` log line
    goes out every `every_s` (the first after `every_s`): a quick run says nothing.
    """

    def __init__(
        self,
        what: str,
        total: int | None = None,
        *,
        out: TextIO | None = None,
        tty: bool | None = None,
        every_s: float = 5.0,
        first_s: float = 0.5,
        redraw_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.total = total
        self.out = out if out is not None else sys.stderr
        self.tty = self.out.isatty() if tty is None else tty
        self.every_s = every_s
        self.first_s = first_s
        self.redraw_s = redraw_s
        self.clock = clock
        self._pid = os.getpid()
        self._here = 0  # added by this process: a plain int, cheap per item
        self._forked = mp.get_context("fork").Value("q", 0)  # added by forked children
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._drawn = False

    def add(self, n: int = 1) -> None:
        if os.getpid() == self._pid:
            self._here += n
        else:
            with self._forked.get_lock():
                self._forked.value += n

    @property
    def done(self) -> int:
        return self._here + int(self._forked.value)

    def line(self, now: float) -> str:
        """`what: done[/total (pct)], rate/s, elapsed s`."""
        done, elapsed = self.done, max(now - self._started, 1e-9)
        of = ""
        if self.total:
            of = f"/{self.total:,} ({100 * done / self.total:.0f}%)"
        return f"{self.what}: {done:,}{of}, {done / elapsed:,.0f}/s, {elapsed:.0f} s"

    def tick(self, now: float, last: float) -> float:
        """Report if it is time to; returns when it last reported."""
        if self.tty:
            if now - self._started >= self.first_s and now - last >= self.redraw_s:
                self.out.write("\r" + self.line(now) + "\x1b[K")
                self.out.flush()
                self._drawn = True
                return now
            return last
        if now - last >= self.every_s:
            elapsed = now - self._started
            log.info(
                "progress",
                task=self.what,
                done=self.done,
                total=self.total,
                per_s=round(self.done / max(elapsed, 1e-9)),
                elapsed_s=round(elapsed, 1),
            )
            return now
        return last

    def _run(self) -> None:
        last = self._started
        step = min(self.redraw_s if self.tty else self.every_s, 0.2)
        while not self._stop.wait(step):
            last = self.tick(self.clock(), last)

    def __enter__(self) -> Self:
        self._started = self.clock()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._drawn:  # the last figures, and the line ended
            self.out.write("\r" + self.line(self.clock()) + "\x1b[K\n")
            self.out.flush()


def counted(items: Iterator[Any], progress: Progress) -> Iterator[Any]:
    """`items`, each counted as it passes."""
    for item in items:
        progress.add()
        yield item


class CountedSource:
    """A replay source (`partitions`, `chunks`) whose records read are counted in `progress`,
    from the forked processes that read partitions too: replay itself is unchanged."""

    def __init__(self, source: Any, progress: Progress) -> None:
        self.source = source
        self.progress = progress

    def partitions(self, topic: str) -> list[int]:
        return list(self.source.partitions(topic))

    def chunks(self, topic: str, partition: int, start: int = 0) -> Iterator[list[Any]]:
        for chunk in self.source.chunks(topic, partition, start):
            self.progress.add(len(chunk))
            yield chunk
