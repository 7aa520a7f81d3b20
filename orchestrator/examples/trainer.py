"""EXAMPLE trainer: closes the continuous-retraining loop in the demo.

Consumes `training.requested`, fits a small logistic regression (numpy, gradient descent) on
synthetic data derived from the named windows, measures it on a held-out split, and publishes a
`model.update` with the real metrics and the windows as lineage. It stands in for a real
training job: the data is synthetic, the model is tiny, the loop is real.

With `--mlflow-tracking-uri URI` (or the flag alone, for MLFLOW_TRACKING_URI's) it publishes
nothing itself: it logs a run (metrics, params, the `orchestrator.trained_on` tag), logs the
weights and registers them as a new version of the model in MLflow, and
`orchestrator mlflow sync` turns that version into the model.update (needs the `[mlflow]`
extra).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import signal
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.codec import encode
from orchestrator.contracts.events import ModelUpdate
from orchestrator.contracts.records import TrainingRequested
from orchestrator.kafka.clients import Connection, quietly
from orchestrator.settings import Settings


def _data(seed: int, n: int = 4000, d: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 3.0, size=d)
    x = rng.normal(0, 1, size=(n, d))
    p = 1 / (1 + np.exp(-(x @ w)))
    y = (rng.random(n) < p).astype(float)
    return x, y


def fit(x: np.ndarray, y: np.ndarray, steps: int = 300, lr: float = 0.5) -> np.ndarray:
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(xb @ w)))
        w -= lr * xb.T @ (p - y) / len(y)
    return w


def metrics(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    xb = np.hstack([x, np.ones((len(x), 1))])
    p = np.clip(1 / (1 + np.exp(-(xb @ w))), 1e-7, 1 - 1e-7)
    order = np.argsort(p)
    ranks = np.empty(len(p))
    ranks[order] = np.arange(1, len(p) + 1)
    pos = y == 1
    auc = (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())
    logloss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    pred = p >= 0.5
    recall = (pred & pos).sum() / max(pos.sum(), 1)
    fpr = (pred & ~pos).sum() / max((~pos).sum(), 1)
    return {
        "auc": round(float(auc), 6),
        "logloss": round(float(logloss), 6),
        "recall": round(float(recall), 6),
        "false_positive_rate": round(float(fpr), 6),
    }


@dataclass(frozen=True)
class Trained:
    """A fitted model: its weights and the model.update that reports it."""

    update: ModelUpdate
    weights: np.ndarray


def version_for(request_id: str) -> str:
    """The version the trainer names what it trains for a request."""
    return f"auto-{request_id.removeprefix('sha256:')[:10]}"


def train(request: TrainingRequested) -> ModelUpdate:
    """A model.update for a training request: deterministic in the request."""
    return trained(request).update


def trained(request: TrainingRequested) -> Trained:
    """Fit the model for a training request: deterministic in the request."""
    seed = int(hashlib.sha256(request.request_id.encode()).hexdigest()[:8], 16)
    x, y = _data(seed)
    cut = int(len(y) * 0.75)
    w = fit(x[:cut], y[:cut])
    version = version_for(request.request_id)
    update = ModelUpdate(
        event_id=f"{request.model}-{version}",
        model=request.model,
        version=version,
        artifact_uri=f"s3://models/{request.model}/{version}/weights.npy",
        artifact_digest="sha256:" + hashlib.sha256(w.tobytes()).hexdigest(),
        metrics=metrics(w, x[cut:], y[cut:]),
        trained_on=request.windows,
        params={
            "steps": 300,
            "lr": 0.5,
            "features": x.shape[1],
            # which request it answers, and why it was asked for (`audit history` shows it)
            "training_request": request.request_id,
            "retrain_reason": request.reason or "every",
            **({"retrain_decision": request.decision_id} if request.decision_id else {}),
        },
        code_version="example-trainer-1",
    )
    return Trained(update, w)


@dataclass(frozen=True)
class MlflowTarget:
    """Where the trainer registers its models instead of publishing model.updates."""

    client: Any
    experiment: str


def register_in_mlflow(target: MlflowTarget, request: TrainingRequested) -> str:
    """Train, log the run and register the weights as a new MLflow version; a line to print."""
    from orchestrator.mlflow_bridge.register import register

    fit_ = trained(request)
    update = fit_.update
    with tempfile.TemporaryDirectory(prefix="trainer-") as tmp:
        np.save(Path(tmp) / "weights.npy", fit_.weights)
        done = register(
            target.client,
            experiment=target.experiment,
            model=update.model,
            request_id=request.request_id,
            artifact_dir=Path(tmp),
            metrics=update.metrics,
            params=dict(update.params or {}),
            trained_on=update.trained_on,
            code_version=update.code_version,
            reason=request.reason or "every",
        )
    again = "" if done.new else " (registered before: the retried request made nothing new)"
    return (
        f"trainer: {update.model} registered in MLflow as version {done.version} "
        f"(run {done.run_id}) on {len(update.trained_on)} windows auc={update.metrics['auc']} "
        f"reason {request.reason or 'every'}"
        f"{again}"
    )


async def run(
    conn: Connection, catalog: Catalog, group: str, mlflow: MlflowTarget | None = None
) -> None:
    consumer = conn.consumer(
        catalog.name("training"),
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = conn.producer(acks="all")
    try:
        await consumer.start()
        await producer.start()
    except BaseException:  # no broker: nothing is left open on the way out
        await quietly(consumer.stop())
        await quietly(producer.stop())
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    request = TrainingRequested.model_validate(orjson.loads(r.value or b"{}"))
                    if mlflow is not None:
                        line = await asyncio.to_thread(register_in_mlflow, mlflow, request)
                        print(line, flush=True)
                        continue
                    update = train(request)
                    await producer.send_and_wait(
                        catalog.name("model_updates"), encode(update), key=update.model.encode()
                    )
                    print(
                        f"trainer: {update.model} {update.version} on {len(update.trained_on)} windows "
                        f"auc={update.metrics['auc']} reason {request.reason or 'every'}",
                        flush=True,
                    )
            if batch:
                await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()


#: `--mlflow-tracking-uri` given without a value: the URI is MLFLOW_TRACKING_URI's
FROM_ENV = "(MLFLOW_TRACKING_URI)"


def options(argv: list[str] | None, environ: Mapping[str, str]) -> argparse.Namespace:
    """The command line. MLflow mode is asked for with `--mlflow-tracking-uri` (with a URI, or
    alone for MLFLOW_TRACKING_URI's), never by the environment alone: a shell that exports
    MLFLOW_TRACKING_URI for other tools does not silently change what the demo's trainer does."""
    parser = argparse.ArgumentParser(
        prog="python -m orchestrator.examples.trainer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--broker", help="bootstrap servers (default: the orchestrator's setting)")
    parser.add_argument("--topics", default="topics")
    parser.add_argument("--group", default="orchestrator-example-trainer")
    parser.add_argument("--config", type=Path, help="the orchestrator's settings file")
    parser.add_argument(
        "--mlflow-tracking-uri",
        metavar="URI",
        nargs="?",
        const=FROM_ENV,
        help="register each model in this MLflow instead of publishing a model.update; "
        "without URI: MLFLOW_TRACKING_URI's (not given: publish as before)",
    )
    parser.add_argument(
        "--mlflow-experiment",
        default="orchestrator-example-trainer",
        help="the MLflow experiment of the training runs (default orchestrator-example-trainer)",
    )
    args = parser.parse_args(argv)
    if args.mlflow_tracking_uri == FROM_ENV:
        args.mlflow_tracking_uri = environ.get("MLFLOW_TRACKING_URI") or None
        if args.mlflow_tracking_uri is None:
            parser.error("--mlflow-tracking-uri without a URI needs MLFLOW_TRACKING_URI set")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run until interrupted. An expected failure (no broker, a bad setting or catalog, a broker
    that refuses) is one line on stderr and exit code 2, as with the `orchestrator` verbs."""
    import ssl

    from aiokafka.errors import KafkaError

    from orchestrator.errors import BrokerError, ConfigError
    from orchestrator.kafka.connect import broker_session
    from orchestrator.kafka.diagnose import explain, quiet_client_logs

    args = options(argv, os.environ)
    quiet_client_logs()

    def fail(message: str) -> int:
        print(f"trainer: error: {message}", file=sys.stderr)
        return 2

    target = None
    if args.mlflow_tracking_uri:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            return fail(
                "registering in MLflow needs the MLflow client: "
                "pip install -e '.[mlflow]' in the repository (the package is not on PyPI)"
            )
        target = MlflowTarget(MlflowClient(args.mlflow_tracking_uri), args.mlflow_experiment)
    try:
        # the same settings and connection (TLS, SASL) as every orchestrator client; the
        # default broker is the one `orchestrator dev` keeps running
        overrides = {"broker": args.broker} if args.broker else {}
        settings = Settings(config_file=args.config, **overrides)
        catalog = Catalog.load(Path(args.topics))
        with broker_session(settings) as broker:
            asyncio.run(run(broker.conn, catalog, args.group, target))
    except ConfigError as exc:
        return fail("; ".join(str(p) for p in exc.problems))
    except BrokerError as exc:
        return fail(str(exc))
    except (KafkaError, ssl.SSLError) as exc:
        where = args.broker or "the default broker"
        return fail(f"broker {where}: {explain(exc)}")
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
