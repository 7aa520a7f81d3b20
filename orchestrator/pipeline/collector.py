"""The garbage collector, set for a process that runs the pipeline (the worker, replay).

Everything built before the records flow (modules, schemas, policies) lives as long as the
process: it is frozen out of the collector's scans. The hot path allocates many short-lived
objects per record; the default gen0 threshold (700) made the collector run every few dozen
records, each time scanning the core's long-lived state."""

from __future__ import annotations

import gc

GC_GEN0_THRESHOLD = 20_000


def tune() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)
