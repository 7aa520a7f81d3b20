"""The benchmark ladder: raw client ceiling (L3) up to the real worker (L6). See bench/README.md."""

from __future__ import annotations

import sys
from pathlib import Path

#: the checkout the bench measures (its topics, deploy/kafka, and the code its workers run)
ROOT = Path(__file__).resolve().parent.parent


def log(msg: str) -> None:
    """Progress, on stderr (stdout holds the figures)."""
    print(f"[bench] {msg}", file=sys.stderr, flush=True)
