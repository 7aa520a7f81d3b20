"""The example trainer fits a real model and reports real, deterministic metrics."""

from orchestrator.contracts.records import TrainingRequested
from orchestrator.examples.trainer import train

W = ["clicks/2026-11-23T00:00:00Z/PT1H", "clicks/2026-11-23T01:00:00Z/PT1H"]


def request(rid: str) -> TrainingRequested:
    return TrainingRequested(
        request_id=rid, model="churn", windows=W, policy="model/churn", policy_version=2
    )


def test_trainer_learns_and_names_its_lineage() -> None:
    """The fitted model beats chance on held-out data; lineage is the requested windows."""
    update = train(request("sha256:abc"))
    assert update.metrics["auc"] > 0.8 and 0 < update.metrics["logloss"] < 0.6
    assert update.trained_on == W and update.model == "churn" and update.version.startswith("auto-")


def test_trainer_is_deterministic_per_request() -> None:
    """The same request gives the same version and metrics; another request another version."""
    assert train(request("sha256:abc")) == train(request("sha256:abc"))
    assert train(request("sha256:abd")).version != train(request("sha256:abc")).version
