"""A seeded workload for the fault tests: policies of its own, and input records with every
kind of event the product sees (disorder, late, duplicates, conflicts, watermarks, model
updates with lineage, signed commands), optionally with poison records and random fuzz."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from orchestrator import testing
from orchestrator.contracts.codec import parse_obj
from orchestrator.contracts.events import CommandRollback
from orchestrator.core.access import signed
from orchestrator.core.timeutil import format_rfc3339_ms, parse_rfc3339_ms, window_id

WINDOW_S = 60


def parse(text: str) -> int:
    return parse_rfc3339_ms(text)


KEYS = {"alice": b"example-key-alice-chaos-only"}
KEY_ENV = {"ORCHESTRATOR_KEY_ALICE": KEYS["alice"].decode()}

#: (topic role, key, value): one input record
Record = tuple[str, bytes | None, bytes]


def write_gates(directory: Path, datasets: int, models: int) -> Path:
    """Dataset policies chaos-0.. (1-minute windows) and models m-0.. over them; alice may roll
    any of them back."""
    names = [f"chaos-{i}" for i in range(datasets)]
    return testing.write_gates(
        directory,
        [
            *(
                testing.dataset_policy(name, window=f"PT{WINDOW_S}S", max_open_windows=100_000)
                for name in names
            ),
            *(
                testing.model_policy(
                    f"m-{j}", [n for i, n in enumerate(names) if i % models == j], retrain_every=5
                )
                for j in range(models)
            ),
            testing.access_policy({"alice": {"rollback": ["*"]}}),
        ],
    )


@dataclass
class Workload:
    datasets: int = 6
    models: int = 2
    seed: int = 1
    #: event time of the first arrivals: two hours ago (never from the future)
    base_ms: int = field(default_factory=lambda: (int(time.time()) // 3600 - 2) * 3_600_000)

    def records(self, n: int) -> list[Record]:
        """About n input records: arrivals and watermarks, model updates, commands."""
        rng = random.Random(self.seed)
        clock = dict.fromkeys(range(self.datasets), self.base_ms)
        accepted: dict[int, list[dict[str, Any]]] = {d: [] for d in range(self.datasets)}
        out: list[Record] = []
        seq = 0
        versions = 0
        while len(out) < n:
            d = rng.randrange(self.datasets)
            ds = f"chaos-{d}"
            clock[d] += rng.randint(200, 1500)
            roll = rng.random()
            if roll < 0.01 and accepted[d]:  # exact duplicate
                obj = rng.choice(accepted[d][-50:])
            elif roll < 0.012 and accepted[d]:  # conflicting duplicate
                obj = {**rng.choice(accepted[d][-50:]), "record_count": rng.randint(1, 999)}
            elif roll < 0.03:  # a watermark from a source
                obj = {
                    "type": "data.watermark",
                    "v": 1,
                    "event_id": f"wm-{seq}",
                    "dataset": ds,
                    "source": rng.choice(["a", "b"]),
                    "watermark": format_rfc3339_ms(clock[d] - 20_000),
                }
            else:
                late = rng.random() < 0.01
                jitter = rng.randint(0, 9_000)
                t = clock[d] - (120_000 if late else jitter)
                obj = {
                    "type": "data.arrival",
                    "v": 1,
                    "event_id": f"e-{seq}",
                    "dataset": ds,
                    "source": rng.choice(["a", "b"]),
                    "event_time": format_rfc3339_ms(t),
                    "uri": f"s3://lake/{ds}/{seq}.parquet",
                    "record_count": rng.randint(1, 500),
                    "checksum": f"sha256:{seq:08x}",
                }
                accepted[d].append(obj)
            seq += 1
            out.append(("arrivals", ds.encode(), orjson.dumps(obj)))
            if seq % 97 == 0:  # a model update trained on recent windows of its datasets
                j = versions % self.models
                versions += 1
                mine = [i for i in range(self.datasets) if i % self.models == j]
                # windows that have arrivals and ended a while ago: most have fired by now
                closed = sorted(
                    {
                        (i, int(parse(a["event_time"])) // 60_000 * 60_000)
                        for i in mine
                        for a in accepted[i][-300:]
                        if parse(a["event_time"]) < clock[i] - 90_000
                    }
                )
                picked = rng.sample(closed, min(3, len(closed)))
                trained = sorted(window_id(f"chaos-{i}", s, WINDOW_S * 1000) for i, s in picked)
                if not trained:
                    continue
                update = {
                    "type": "model.update",
                    "v": 1,
                    "event_id": f"u-{versions}",
                    "model": f"m-{j}",
                    "version": f"v{versions}",
                    "artifact_uri": f"s3://models/m-{j}/v{versions}",
                    "artifact_digest": f"sha256:{versions:08x}",
                    "metrics": {"auc": round(0.6 + rng.random() * 0.4, 4)},
                    "trained_on": trained,
                }
                out.append(("model_updates", f"m-{j}".encode(), orjson.dumps(update)))
            if seq % 499 == 0:  # an operator rollback, signed with the example key
                model = f"m-{rng.randrange(self.models)}"
                cmd = CommandRollback(
                    event_id=f"c-{seq}",
                    model=model,
                    actor="alice",
                    reason="chaos",
                    issued_at=format_rfc3339_ms(int(time.time() * 1000)),
                    nonce=f"chaos-{self.seed:06d}-{seq:08d}",
                    signature="-",
                )
                wire = orjson.dumps(
                    signed(cmd, KEYS["alice"]).model_dump(mode="json", exclude_none=True)
                )
                out.append(("commands", model.encode(), wire))
        return out


def poison(datasets: int, base_ms: int, seed: int = 7, fuzz: int = 200) -> list[Record]:
    """The fault report's poison records, and a bounded random fuzz of arrivals."""
    rng = random.Random(seed)
    good = {
        "type": "data.arrival",
        "v": 1,
        "event_id": "p-ok",
        "dataset": "chaos-0",
        "source": "a",
        "event_time": format_rfc3339_ms(base_ms),
        "uri": "s3://lake/p",
        "record_count": 1,
        "checksum": "c",
    }
    out: list[Record] = [
        ("arrivals", b"chaos-0", b"\xff" + b"z" * 900_000),  # undecodable, near 1 MiB
        (
            "arrivals",
            b"chaos-0",
            orjson.dumps({**good, "event_id": "p-big-1", "record_count": 2**63 - 1}),
        ),
        (
            "arrivals",
            b"chaos-0",
            orjson.dumps({**good, "event_id": "p-big-2", "record_count": 2**63 - 1}),
        ),
        (
            "arrivals",
            b"chaos-0",
            b'{"type":"data.arrival","v":1,"event_id":"p-u64","dataset":"chaos-0","source":"a","event_time":"2026-01-01T00:00:00Z","uri":"u","record_count":18446744073709551615,"checksum":"c"}',
        ),
        ("arrivals", None, orjson.dumps({**good, "event_id": "p-keyless", "dataset": "chaos-1"})),
        (
            "arrivals",
            b"chaos-1",
            orjson.dumps(
                {
                    **good,
                    "event_id": "p-future",
                    "dataset": "chaos-1",
                    "event_time": "9999-12-31T23:59:59Z",
                }
            ),
        ),
        ("arrivals", b"chaos-2", orjson.dumps({**good, "event_id": "p-wrongkey"})),
        (
            "arrivals",
            b"chaos-3",
            orjson.dumps({**good, "event_id": "x" * 10_000, "dataset": "chaos-3"}),
        ),
    ]
    fields = list(good)
    for i in range(fuzz):
        ds = f"chaos-{rng.randrange(datasets)}"
        obj: Any = {**good, "event_id": f"fz-{i}", "dataset": ds}
        kind = rng.randrange(5)
        if kind == 0:
            value = rng.randbytes(rng.randint(0, 300))
        elif kind == 1:
            obj[rng.choice(fields)] = rng.choice(
                [None, -1, 2**70, "", [], {}, 1.5, "x" * 300, True]
            )
            value = orjson.dumps(obj) if _jsonable(obj) else b"{}"
        elif kind == 2:
            del obj[rng.choice(fields)]
            value = orjson.dumps(obj)
        elif kind == 3:
            raw = bytearray(orjson.dumps(obj))
            for _ in range(rng.randint(1, 5)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            value = bytes(raw)
        else:
            obj["attributes"] = {
                f"k{j}": rng.choice([1, "v", 2.5, None, True]) for j in range(rng.randint(0, 50))
            }
            value = orjson.dumps(obj)
        out.append(("arrivals", ds.encode(), value))
    return out


def _jsonable(obj: Any) -> bool:
    try:
        orjson.dumps(obj)
    except TypeError:
        return False
    return True


def large_lineage(models: int, n_updates: int = 6, ids: int = 5000) -> list[Record]:
    """Model updates whose trained_on lists thousands of windows (the model-state fault)."""
    out: list[Record] = []
    for u in range(n_updates):
        j = u % models
        trained = [
            f"chaos-{j}/2026-11-{1 + (k // 1440) % 20:02d}T{(k // 60) % 24:02d}:{k % 60:02d}:00Z/PT1M"
            for k in range(ids)
        ]
        update = {
            "type": "model.update",
            "v": 1,
            "event_id": f"big-{u}",
            "model": f"m-{j}",
            "version": f"big-{u}",
            "artifact_uri": "s3://models/big",
            "artifact_digest": "sha256:big",
            "metrics": {"auc": 0.9},
            "trained_on": trained,
        }
        out.append(("model_updates", f"m-{j}".encode(), orjson.dumps(update)))
    return out


def check_valid_sample(records: list[Record]) -> None:
    """The workload's own events are valid contracts (a sanity check of the generator)."""
    for role, _, value in records[:50]:
        if role != "arrivals" or value.startswith(b"{"):
            parse_obj(orjson.loads(value))
