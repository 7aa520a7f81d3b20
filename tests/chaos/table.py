"""The README's Guarantees table from the `CHAOS {...}` lines the fault tests print:

make chaos | tee chaos.log; python -m tests.chaos.table < chaos.log
"""

from __future__ import annotations

import json
import re
import sys


def main() -> int:
    rows = []
    for line in sys.stdin:
        m = re.search(r"CHAOS (\{.*\})", line)
        if m:
            rows.append(json.loads(m.group(1)))
    print(
        "| fault | guarantee | input events | outputs expected | lost | conflicting | extra | duplicated |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        t = r["topics"].values()
        facts = [f"{r['events']}"]
        if "kills" in r:
            facts.append(f"{r['kills']} kills")
        if "down_s" in r:
            facts.append(f"down {r['down_s']} s")
        print(
            f"| {r['case']} | {r['guarantee']} | {', '.join(facts)} "
            f"| {sum(x['expected'] for x in t)} | {sum(x['lost'] for x in t)} "
            f"| {sum(x['conflicting'] for x in t)} | {sum(x['extra'] for x in t)} "
            f"| {sum(x['duplicated'] for x in t)} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
