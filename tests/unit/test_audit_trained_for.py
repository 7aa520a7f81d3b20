"""`audit history MODEL:VERSION` says why the version was trained: the training decision its
model.update names (`params.retrain_decision`), or that it cannot tell when that decision or
the update is missing from the trail (the history is still right)."""

from __future__ import annotations

from typing import Any

from orchestrator.audit.queries import Recorded, history, trained_for

TRAINING = {
    "decision_id": "sha256:train-1",
    "subject": {"kind": "training", "id": "churn"},
    "revision": 1,
    "outcome": "retrain",
    "model": "churn",
    "checks": [
        {
            "name": "clicks.drift.amount.psi",
            "passed": False,
            "severity": "warn",
            "observed": {"value": 0.41},
            "expected": {"max": 0.2},
            "code": "E_DRIFT",
        }
    ],
    "decided_at": "2026-11-23T12:00:00Z",
}


def version(update_offset: int) -> dict[str, Any]:
    return {
        "decision_id": "sha256:v7",
        "subject": {"kind": "model_version", "id": "churn:v7"},
        "revision": 1,
        "outcome": "promote",
        "model": "churn",
        "checks": [],
        "inputs": {
            "event_ids": ["u7"],
            "digest": "x",
            "offsets": [{"topic": "models.updates", "partition": 0, "offset": update_offset}],
        },
        "decided_at": "2026-11-23T12:05:00Z",
    }


class Trail:
    def __init__(self, decisions: list[dict[str, Any]], updates: dict[int, dict[str, Any]]) -> None:
        self.recorded = [Recorded(d, 0, i) for i, d in enumerate(decisions)]
        self.updates = updates

    def history(self, subject: str) -> list[Recorded]:
        return [r for r in self.recorded if r.record["subject"]["id"] == subject]

    def model_decisions(self, model: str) -> list[Recorded]:
        return [r for r in self.recorded if r.record.get("model") == model]

    def update_at(self, partition: int, offset: int) -> dict[str, Any] | None:
        return self.updates.get(offset)

    def manifests(self, window_id: str, revision: int) -> list[dict[str, Any]]:
        return []

    def as_of(self) -> dict[str, dict[int, int]]:
        return {}


def test_the_training_decision_a_version_answers_is_shown() -> None:
    trail = Trail([TRAINING, version(5)], {5: {"params": {"retrain_decision": "sha256:train-1"}}})
    why = trained_for(trail, history(trail, "churn:v7"))
    assert why == {
        "decision_id": "sha256:train-1",
        "revision": 1,
        "decided_at": "2026-11-23T12:00:00Z",
        "checks": TRAINING["checks"],
    }
    # the model's own history lists the request
    assert [d["outcome"] for d in history(trail, "churn")] == ["retrain"]


def test_a_version_not_trained_on_a_request_has_no_reason() -> None:
    trail = Trail([version(5)], {5: {"params": {"steps": 3}}})
    assert trained_for(trail, history(trail, "churn:v7")) is None


def test_a_named_decision_missing_from_the_trail_is_unknown() -> None:
    trail = Trail([version(5)], {5: {"params": {"retrain_decision": "sha256:gone"}}})
    assert trained_for(trail, history(trail, "churn:v7")) == {
        "unknown": "training decision sha256:gone is not in the trail"
    }


def test_a_missing_update_is_unknown() -> None:
    trail = Trail([version(5)], {})
    why = trained_for(trail, history(trail, "churn:v7"))
    assert why == {
        "unknown": "the model.update of churn:v7 (models.updates partition 0 offset 5) "
        "is not in the trail"
    }
