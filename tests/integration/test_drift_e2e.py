"""A distribution shift end to end through the worker on real Apache Kafka (README "Drift",
"Retraining triggers").

Arrivals carry data profiles; three windows of one distribution are promoted; a shifted window
fails its drift checks (each figure against the core's own statistic of the same profiles),
the model asks for retraining with reason drift (debounced: a second shifted window an hour
later within the debounce asks nothing), a version trained for that request becomes the
challenger of the staged rollout and is crowned by its live intervals; `audit history` says
why it was trained, and `replay` re-derives every decision, the training ones included.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from orchestrator.catalog.topics import Catalog
from orchestrator.core import profile
from orchestrator.testing import access_policy, dataset_policy, model_policy, wait_for, write_gates
from tests import factories, profiles
from tests.conftest import make_catalog, run_cli
from tests.integration.support import make_worker, read

EDGES = [-2.0, -1.0, 0.0, 1.0, 2.0]
PROBS = [0.1, 0.25, 0.5, 0.75, 0.9]
W = "sensors/2026-11-23T{:02d}:00:00Z/PT1H"
HOUR = 3_600_000


def col(values: np.ndarray) -> dict[str, Any]:
    return profiles.column(values, EDGES, PROBS)


def arrival(eid: str, hour: int, values: np.ndarray) -> dict[str, Any]:
    return factories.arrival(
        eid,
        dataset="sensors",
        event_time=f"2026-11-23T{hour:02d}:10:00Z",
        record_count=int(values.size),
        profile={"temp": col(values)},
    )


def gates(directory: Path) -> Path:
    return write_gates(
        directory,
        [
            dataset_policy(
                "sensors",
                window="PT1H",
                out_of_orderness="PT0S",
                allowed_lateness="PT0S",
                profile={"temp": {"bins": EDGES, "quantiles": PROBS}},
                drift={
                    "reference": {"last": 3},
                    "columns": {
                        "temp": {
                            "psi": {"max": 0.2, "severity": "warn"},
                            "ks": {"max": 0.15, "severity": "warn"},
                            "mean_shift": {"max": 1.0, "severity": "warn"},
                        }
                    },
                },
            ),
            model_policy(
                "forecast",
                ["sensors"],
                retrain_on={"drift": {"datasets": ["sensors"]}, "debounce": "PT2H"},
                rollout={
                    "challenger_windows": 2,
                    "min_samples": 100,
                    "guard": {"metric": "auc", "direction": "max", "tolerance": 0.05},
                },
            ),
            access_policy({}),
        ],
    )


def update(version: str, trained_on: list[str], auc: float, **params: str) -> dict[str, Any]:
    return {
        "type": "model.update",
        "v": 1,
        "event_id": f"forecast-{version}",
        "model": "forecast",
        "version": version,
        "artifact_uri": f"s3://models/forecast/{version}",
        "artifact_digest": f"sha256:{version}",
        "metrics": {"auc": auc},
        "trained_on": trained_on,
        **({"params": params} if params else {}),
    }


def live(eid: str, version: str, auc: float, hour: int) -> dict[str, Any]:
    return {
        "type": "model.performance",
        "v": 1,
        "event_id": eid,
        "model": "forecast",
        "version": version,
        "interval_start": f"2026-11-24T{hour:02d}:00:00Z",
        "interval_end": f"2026-11-24T{hour:02d}:59:00Z",
        "metrics": {"auc": auc},
        "sample_count": 500,
    }


def by_subject(bootstrap: str, catalog: Catalog) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for d in read(bootstrap, catalog.name("audit")):
        out.setdefault(d["subject"]["id"], []).append(d)
    return out


def test_a_shift_asks_for_retraining_and_the_new_version_is_rolled_out(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    bs = kafka_bootstrap
    prefix = f"d{uuid.uuid4().hex[:8]}"
    topics = make_catalog(tmp_path / "topics", prefix, partitions=2)
    assert run_cli("topics", "apply", "--broker", bs, "--topics", str(topics)).returncode == 0
    catalog = Catalog.load(topics)
    gate_dir = gates(tmp_path / "gates")
    rng = np.random.default_rng(2026)
    calm = [rng.normal(0.0, 1.0, 500) for _ in range(3)]
    shifted = [rng.normal(1.5, 1.0, 500) for _ in range(2)]

    def produce(*objs: dict[str, Any]) -> None:
        path = tmp_path / f"{uuid.uuid4().hex}.jsonl"
        path.write_bytes(b"\n".join(orjson.dumps(o) for o in objs))
        out = run_cli(
            "produce", str(path), "--broker", bs, "--topics", str(topics), "--gates", str(gate_dir)
        )
        assert out.returncode == 0, out.stderr

    def decisions() -> dict[str, list[dict[str, Any]]]:
        return by_subject(bs, catalog)

    worker = make_worker(bs, topics, prefix, tmp_path / "worker.log", gates=gate_dir)
    worker.start()
    try:
        # hours 0-2 calm, hour 3 and 4 shifted; hour 5 fires hour 4
        produce(*[arrival(f"s{h}", h, v) for h, v in enumerate(calm)])
        produce(arrival("s3", 3, shifted[0]), arrival("s4", 4, shifted[1]))
        produce(arrival("s5", 5, calm[0]))
        wait_for(lambda: W.format(4) in decisions(), timeout=120)
        wait_for(lambda: "forecast" in decisions(), timeout=60)

        got = decisions()
        # the drifted window: every figure is the core's own statistic of the same profiles
        hour3 = got[W.format(3)][-1]
        assert hour3["outcome"] == "promote"  # severity warn
        checks = {c["name"]: c for c in hour3["checks"]}
        ref = profile.merge([col(v) for v in calm], PROBS)
        now = col(shifted[0])
        expected = {
            "drift.temp.psi": profile.psi(now["bins"], ref["bins"]),
            "drift.temp.ks": profile.ks_quantiles(now, ref, PROBS),
            "drift.temp.mean_shift": profile.mean_shift(now, ref),
        }
        for name, value in expected.items():
            assert checks[name]["observed"]["value"] == round(value, 6), name
            assert checks[name]["observed"]["reference"] == [W.format(h) for h in range(3)]
            assert not checks[name]["passed"]
        # one request, reason drift, for hour 3: hour 4's (an hour later) is debounced
        (request,) = read(bs, catalog.name("training"))
        assert (request["reason"], request["windows"]) == ("drift", [W.format(3)])
        (training,) = got["forecast"]
        assert (training["outcome"], training["subject"]["kind"]) == ("retrain", "training")
        assert training["decision_id"] == request["decision_id"]
        assert [c["name"] for c in training["checks"]] == [
            f"sensors.{n}" for n in ("drift.temp.psi", "drift.temp.ks", "drift.temp.mean_shift")
        ]

        # the trainer answers: a first version (champion), then the one for the request
        produce(update("v1", [W.format(0)], 0.80))
        wait_for(lambda: "forecast:v1" in decisions(), timeout=60)
        produce(
            update(
                "v2",
                [W.format(3)],
                0.82,
                retrain_decision=request["decision_id"],
                retrain_reason="drift",
            )
        )
        wait_for(lambda: "forecast:v2" in decisions(), timeout=60)
        staged = decisions()["forecast:v2"][-1]
        assert (staged["outcome"], staged["champion_after"]) == ("promote", "v1")  # challenger
        produce(*[live(f"live-{k}", "v2", 0.83, hour=10 + k) for k in range(2)])
        wait_for(lambda: decisions()["forecast:v2"][-1]["champion_after"] == "v2", timeout=60)
    finally:
        worker.stop()

    out = run_cli(
        "audit", "history", "forecast:v2", "--broker", bs, "--topics", str(topics), "--json"
    )
    assert out.returncode == 0, out.stderr
    history = orjson.loads(out.stdout)
    assert history["trained_for"]["decision_id"] == request["decision_id"]
    assert history["trained_for"]["checks"][0]["name"] == "sensors.drift.temp.psi"

    report = tmp_path / "replay.json"
    out = run_cli(
        "replay",
        "--broker",
        bs,
        "--topics",
        str(topics),
        "--gates",
        str(gate_dir),
        "--json",
        str(report),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    verdict = orjson.loads(report.read_bytes())
    assert verdict["ok"], verdict
    assert verdict["summary"]["mismatch"] == verdict["summary"]["missing"] == 0
    assert verdict["summary"]["match"] >= 9  # 6 windows, the request, v1 and v2's revisions
