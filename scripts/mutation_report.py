"""The score of `make mutation`, per module: mutants killed by the unit tests, survived, not
covered by any test, and timed out, read from mutmut's result files (mutants/**/*.meta).

Killed counts every non-zero test exit but 33 (no tests) and 36 (timeout is 'killed' too: the
mutant made a test hang, which a test run notices). The score is killed / all mutants."""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

NO_TESTS, SKIPPED = 33, 34


def survivors(root: Path = Path("mutants")) -> list[str]:
    out = []
    for meta in sorted(root.glob("orchestrator/**/*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        out += sorted(k for k, c in codes.items() if c == 0)
    return out


def main(root: Path = Path("mutants")) -> int:
    rows = []
    totals: collections.Counter[str] = collections.Counter()
    for meta in sorted(root.glob("orchestrator/**/*.py.meta")):
        codes = [
            c for c in json.loads(meta.read_text())["exit_code_by_key"].values() if c is not None
        ]
        if not codes:
            continue
        c = collections.Counter(
            "survived"
            if x == 0
            else "no tests"
            if x == NO_TESTS
            else "skipped"
            if x == SKIPPED
            else "killed"
            for x in codes
        )
        module = str(meta.relative_to(root))[: -len(".meta")]
        rows.append((module, len(codes), c))
        totals.update(c)
        totals["all"] += len(codes)
    if not rows:
        print("no mutation results under mutants/: run `make mutation`", file=sys.stderr)
        return 1
    print(
        f"{'module':42} {'mutants':>8} {'killed':>7} {'survived':>9} {'no tests':>9} {'score':>6}"
    )
    for module, n, c in rows:
        print(
            f"{module:42} {n:>8} {c['killed']:>7} {c['survived']:>9} {c['no tests']:>9} "
            f"{c['killed'] / n:>6.0%}"
        )
    n = totals["all"]
    print(
        f"{'all':42} {n:>8} {totals['killed']:>7} {totals['survived']:>9} {totals['no tests']:>9} "
        f"{totals['killed'] / n:>6.0%}"
    )
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--survivors"]:
        print("\n".join(survivors()))
        sys.exit(0)
    sys.exit(main())
