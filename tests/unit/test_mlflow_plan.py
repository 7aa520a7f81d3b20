"""The MLflow bridge's pure part: a registered version as a model.update, aliases from the
champions record (no MLflow needed)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from orchestrator.contracts.codec import encode
from orchestrator.contracts.events import ModelUpdate
from orchestrator.contracts.records import ChampionRecord
from orchestrator.mlflow_bridge.plan import (
    CHALLENGER,
    CHAMPION,
    AliasMove,
    Skip,
    VersionFacts,
    event_id_for,
    is_models_uri,
    latest_champions,
    parse_trained_on,
    plan_aliases,
    problem,
    stated_digest,
    to_update,
    tree_digest,
    waiting,
)
from orchestrator.mlflow_bridge.sync import Bridge, PassReport

W1, W2 = "clicks/2026-11-23T00:00:00Z/PT1H", "clicks/2026-11-23T01:00:00Z/PT1H"


def facts(**kw: Any) -> VersionFacts:
    base: dict[str, Any] = {
        "model": "churn",
        "version": "3",
        "status": "READY",
        "source": "mlflow-artifacts:/1/abc/artifacts/model",
        "created_ms": 1_795_000_000_123,
        "version_tags": {},
        "run_id": "abc",
        "run_metrics": {"logloss": 0.4, "auc": 0.81},
        "run_params": {"lr": "0.5", "steps": "300"},
        "run_tags": {"orchestrator.trained_on": f'["{W1}", "{W2}"]'},
        "run_status": "FINISHED",
    }
    return VersionFacts(**{**base, **kw})


def test_a_version_becomes_the_model_update_the_docs_describe() -> None:
    """Version number as version, deterministic event id, run metrics and params, source as
    artifact uri, trained_on from the run tag, creation time as event_time."""
    update = to_update(facts(), "sha256:d")
    assert isinstance(update, ModelUpdate)
    assert update.event_id == "mlflow/churn/3" == event_id_for("churn", "3")
    assert (update.model, update.version) == ("churn", "3")
    assert update.artifact_uri == "mlflow-artifacts:/1/abc/artifacts/model"
    assert update.artifact_digest == "sha256:d"
    assert update.metrics == {"auc": 0.81, "logloss": 0.4}
    assert update.trained_on == [W1, W2]
    assert update.params == {"lr": "0.5", "steps": "300", "mlflow.run_id": "abc"}
    assert update.event_time == datetime(2026, 11, 18, 11, 6, 40, 123000, tzinfo=UTC)
    assert update.code_version is None


def test_the_same_version_gives_the_same_bytes() -> None:
    """Publishing again after a crash sends identical content: the worker sees a duplicate,
    not a conflict (metrics and params in any order)."""
    a = to_update(facts(), "sha256:d")
    b = to_update(
        facts(run_metrics={"auc": 0.81, "logloss": 0.4}, run_params={"steps": "300", "lr": "0.5"}),
        "sha256:d",
    )
    assert isinstance(a, ModelUpdate) and isinstance(b, ModelUpdate)
    assert encode(a) == encode(b)


def test_code_version_from_the_orchestrator_tag_else_the_git_commit() -> None:
    """orchestrator.code_version wins over MLflow's mlflow.source.git.commit."""
    tags = {"orchestrator.trained_on": W1, "mlflow.source.git.commit": "abc123"}
    first = to_update(facts(run_tags=tags), "sha256:d")
    second = to_update(
        facts(run_tags={**tags, "orchestrator.code_version": "trainer-7"}), "sha256:d"
    )
    assert isinstance(first, ModelUpdate) and isinstance(second, ModelUpdate)
    assert (first.code_version, second.code_version) == ("abc123", "trainer-7")


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        (f'["{W1}", "{W2}"]', [W1, W2]),
        (f"{W1},{W2}", [W1, W2]),
        (f" {W1} , {W2} ", [W1, W2]),
        (W1, [W1]),
        ("[]", []),
        ("", []),
    ],
)
def test_trained_on_is_a_json_list_or_comma_separated(text: str, ids: list[str]) -> None:
    """Both forms the README names parse to the window ids."""
    assert parse_trained_on(text) == ids


@pytest.mark.parametrize("text", ['["a", 1]', "[not json", '{"a": 1}', "a,,b", '["a", " "]'])
def test_a_malformed_trained_on_is_refused(text: str) -> None:
    """Numbers, broken JSON, objects and empty ids are not window ids."""
    with pytest.raises(ValueError):
        parse_trained_on(text)


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"run_id": None}, "names no run"),
        ({"run_metrics": None}, "run abc not found"),
        ({"run_metrics": {}}, "has no metrics"),
        ({"run_metrics": {"auc": float("nan")}}, "metric auc is not a finite number"),
        ({"run_metrics": {"auc": float("inf")}}, "metric auc is not a finite number"),
        ({"run_tags": {}}, "has no tag orchestrator.trained_on"),
        ({"run_tags": {"orchestrator.trained_on": "[1]"}}, "tag orchestrator.trained_on: a JSON"),
        ({"run_status": "FAILED"}, "run abc is FAILED: the model of a run that did not finish"),
        ({"run_status": "KILLED"}, "run abc is KILLED: the model of a run that did not finish"),
    ],
)
def test_a_version_that_cannot_be_an_update_is_said_why(kw: dict[str, Any], words: str) -> None:
    """Each missing piece has its own one-line reason."""
    reason = problem(facts(**kw))
    assert reason is not None and words in reason and "\n" not in reason


def test_a_complete_version_has_no_problem() -> None:
    assert problem(facts()) is None
    assert waiting(facts()) is None


@pytest.mark.parametrize("status", ["RUNNING", "SCHEDULED"])
def test_a_version_whose_run_is_open_waits(status: str) -> None:
    """Registered inside a run that is still logging (MLflow's log_model(...,
    registered_model_name=...)): its metrics are not final, so it waits, whatever else the
    run lacks so far."""
    reason = waiting(facts(run_status=status))
    assert reason == f"run abc is {status}: published once it ends"
    assert waiting(facts(run_status=status, run_tags={})) == reason
    assert waiting(facts(run_status="FAILED")) is None
    assert waiting(facts(run_status=status, run_metrics=None)) is None  # no run: a skip


def test_a_logged_model_source_is_the_artifact_uri() -> None:
    """MLflow 3's log_model registers `models:/m-<id>`: the update names it as MLflow does."""
    source = "models:/m-7f88af94e2ee4afcbffdf0dd82438039"
    update = to_update(facts(source=source), "sha256:d")
    assert isinstance(update, ModelUpdate) and update.artifact_uri == source
    assert is_models_uri(source) and is_models_uri("models:/churn/3")
    assert not is_models_uri("mlflow-artifacts:/1/abc/artifacts/model")
    assert not is_models_uri("s3://bucket/models/m-1")


def test_what_the_contract_refuses_is_a_skip_not_a_crash() -> None:
    """A metric name over 200 characters, or a payload over 1 MiB, is a Skip with the reason."""
    long_name = to_update(facts(run_metrics={"m" * 201: 1.0}), "sha256:d")
    assert isinstance(long_name, Skip) and "metrics" in long_name.reason
    huge = to_update(facts(run_params={f"p{i}": "x" * 6000 for i in range(200)}), "sha256:d")
    assert isinstance(huge, Skip) and "the limit is 1048576" in huge.reason
    assert str(huge).startswith("churn version 3: ")


def test_the_digest_stated_by_the_run_is_used_when_present() -> None:
    assert stated_digest(facts()) is None
    tags = {"orchestrator.trained_on": W1, "orchestrator.artifact_digest": " sha256:x "}
    assert stated_digest(facts(run_tags=tags)) == "sha256:x"


def test_tree_digest_is_order_free_and_content_bound() -> None:
    """The artifact's digest does not depend on listing order, and changes with any file."""
    a = [("weights.npy", "aa"), ("MLmodel", "bb")]
    assert tree_digest(a) == tree_digest(reversed(a))
    assert tree_digest(a) != tree_digest([("weights.npy", "ab"), ("MLmodel", "bb")])
    assert tree_digest(a) != tree_digest([("weights2.npy", "aa"), ("MLmodel", "bb")])
    manifest = b"MLmodel\0bb\nweights.npy\0aa\n"
    assert tree_digest(a) == "sha256:" + hashlib.sha256(manifest).hexdigest()


def record(champion: str | None, challenger: str | None = None) -> ChampionRecord:
    return ChampionRecord(
        model="churn",
        version=champion,
        decision_id="sha256:dec",
        since=datetime(2026, 11, 23, tzinfo=UTC),
        challenger=challenger,
    )


VERSIONS = {"1", "2", "3"}


@pytest.mark.parametrize(
    ("rec", "current", "moves"),
    [
        # first champion
        (record("1"), {}, [(CHAMPION, "1", None)]),
        # nothing to do: idempotent
        (record("1"), {CHAMPION: "1"}, []),
        (record("1", "2"), {CHAMPION: "1", CHALLENGER: "2"}, []),
        # a challenger appears
        (record("1", "2"), {CHAMPION: "1"}, [(CHALLENGER, "2", None)]),
        # the challenger is crowned: champion moves first, the challenger alias goes
        (
            record("2"),
            {CHAMPION: "1", CHALLENGER: "2"},
            [(CHAMPION, "2", "1"), (CHALLENGER, None, "2")],
        ),
        # the challenger is rejected
        (record("1"), {CHAMPION: "1", CHALLENGER: "2"}, [(CHALLENGER, None, "2")]),
        # a rollback moves the champion back
        (record("1"), {CHAMPION: "3"}, [(CHAMPION, "1", "3")]),
        # rolled back with no clean champion left: no champion alias
        (record(None), {CHAMPION: "3"}, [(CHAMPION, None, "3")]),
        # a newer challenger replaces the old one
        (record("1", "3"), {CHAMPION: "1", CHALLENGER: "2"}, [(CHALLENGER, "3", "2")]),
        # aliases an operator set by hand are brought back to what the gate decided
        (
            record("2"),
            {CHAMPION: "3", CHALLENGER: "1"},
            [(CHAMPION, "2", "3"), (CHALLENGER, None, "1")],
        ),
    ],
)
def test_aliases_follow_the_champions_record(
    rec: ChampionRecord, current: dict[str, str], moves: list[tuple[str, str | None, str | None]]
) -> None:
    """Each champions record gives exactly the moves that mirror it, champion first."""
    plan = plan_aliases(rec, current, VERSIONS)
    assert plan.moves == [AliasMove("churn", a, to, was) for a, to, was in moves]
    assert plan.notes == []


def test_a_version_mlflow_does_not_have_takes_the_alias_away_and_says_so() -> None:
    """A champion published outside MLflow cannot be aliased: the alias does not stay on a
    version the orchestrator no longer backs, and a note says why."""
    plan = plan_aliases(record("auto-abc", "7"), {CHAMPION: "2", CHALLENGER: "1"}, VERSIONS)
    assert plan.moves == [
        AliasMove("churn", CHAMPION, None, "2"),
        AliasMove("churn", CHALLENGER, None, "1"),
    ]
    assert len(plan.notes) == 2 and "'auto-abc' is not a version" in plan.notes[0]


def test_applying_a_plan_leaves_nothing_to_do() -> None:
    """After the moves, planning again is empty, and no alias names two versions."""
    for rec in (record("2", "3"), record("1"), record(None, "2"), record("3", "1")):
        current = {CHAMPION: "1", CHALLENGER: "2"}
        for move in plan_aliases(rec, current, VERSIONS).moves:
            if move.to is None:
                current.pop(move.alias)
            else:
                current[move.alias] = move.to
        assert plan_aliases(rec, current, VERSIONS).moves == []


def test_latest_champions_keeps_the_last_record_per_model() -> None:
    """In log order the last record wins, a tombstone forgets, garbage is left out."""

    def raw(rec: ChampionRecord) -> tuple[bytes, bytes]:
        return rec.model.encode(), encode(rec)

    fraud = ChampionRecord(
        model="fraud", version="9", decision_id="d", since=datetime(2026, 1, 1, tzinfo=UTC)
    )
    got = latest_champions(
        [raw(record("1")), raw(fraud), raw(record("2", "3")), (b"churn", b"\xffnot json")]
    )
    assert got == {"churn": record("2", "3"), "fraud": fraud}
    assert latest_champions([raw(record("1")), (b"churn", None)]) == {}
    # "no champion" goes on the wire without its version: it still clears the champion
    assert "version" not in orjson.loads(encode(record(None)))
    assert latest_champions([raw(record("1")), raw(record(None))]) == {"churn": record(None)}


class FakeRun:
    def __init__(self, status: str, metrics: dict[str, float]) -> None:
        self.info = type("Info", (), {"status": status})()
        self.data = type(
            "Data", (), {"metrics": metrics, "params": {}, "tags": {"orchestrator.trained_on": W1}}
        )()


class FakeClient:
    """The MLflow client calls `Bridge.candidate` makes, recorded."""

    def __init__(self, run: FakeRun) -> None:
        self.run = run
        self.tags: list[tuple[str, str, str, str]] = []
        self.resolved: list[tuple[str, str]] = []

    def get_run(self, run_id: str) -> FakeRun:
        return self.run

    def set_model_version_tag(self, model: str, version: str, key: str, value: str) -> None:
        self.tags.append((model, version, key, value))

    def get_model_version_download_uri(self, model: str, version: str) -> str:
        self.resolved.append((model, version))
        return "mlflow-artifacts:/1/models/m-abc/artifacts"


def mv(source: str = "mlflow-artifacts:/1/abc/artifacts/model", **tags: str) -> Any:
    return type(
        "MV",
        (),
        {
            "name": "churn",
            "version": "3",
            "status": "READY",
            "source": source,
            "creation_timestamp": 1_795_000_000_123,
            "tags": tags,
            "run_id": "abc",
        },
    )()


def bridge(client: FakeClient, downloaded: list[str]) -> Bridge:
    def digest(uri: str) -> str:
        downloaded.append(uri)
        return "sha256:d"

    return Bridge(client, None, None, None, ["churn"], digest)  # type: ignore[arg-type]


def test_a_version_whose_run_is_running_is_pending_untagged() -> None:
    """Not published, not tagged, not downloaded: one pending line; once the run finished,
    the update carries the metrics the run ended with."""
    client, downloaded = FakeClient(FakeRun("RUNNING", {"auc": 0.5})), []
    report = PassReport()
    assert bridge(client, downloaded).candidate(mv(), report) is None
    assert report.pending == ["churn version 3: run abc is RUNNING: published once it ends"]
    assert (report.skipped, client.tags, downloaded) == ([], [], [])
    client.run = FakeRun("FINISHED", {"auc": 0.8})
    update = bridge(client, downloaded).candidate(mv(), PassReport())
    assert isinstance(update, ModelUpdate) and update.metrics == {"auc": 0.8}


def test_a_version_whose_run_failed_is_skipped_and_tagged() -> None:
    client, downloaded = FakeClient(FakeRun("KILLED", {"auc": 0.5})), []
    report = PassReport()
    assert bridge(client, downloaded).candidate(mv(), report) is None
    assert [s.reason for s in report.skipped] == [
        "run abc is KILLED: the model of a run that did not finish is not published"
    ]
    assert client.tags == [("churn", "3", "orchestrator.skipped", report.skipped[0].reason)]
    assert report.pending == [] and downloaded == []


def test_a_version_tagged_ignore_is_left_alone() -> None:
    """orchestrator.ignore (any value): not read, not skipped, not tagged; counted."""
    client, downloaded = FakeClient(FakeRun("FINISHED", {})), []  # no metrics: would skip
    report = PassReport()
    assert bridge(client, downloaded).candidate(mv(**{"orchestrator.ignore": ""}), report) is None
    assert (report.ignored, report.skipped, report.pending, client.tags) == (1, [], [], [])
    assert "skipped 0, pending 0, ignored 1;" in report.summary()


def test_a_logged_model_version_is_digested_where_the_registry_stores_it() -> None:
    """`models:/m-<id>`: the digest downloads the storage location the registry resolves
    (with this client, not the process's default registry); artifact_uri stays the source."""
    client, downloaded = FakeClient(FakeRun("FINISHED", {"auc": 0.8})), []
    update = bridge(client, downloaded).candidate(mv("models:/m-abc"), PassReport())
    assert isinstance(update, ModelUpdate) and update.artifact_uri == "models:/m-abc"
    assert client.resolved == [("churn", "3")]
    assert downloaded == ["mlflow-artifacts:/1/models/m-abc/artifacts"]
    bridge(client, downloaded).candidate(mv(), PassReport())
    assert downloaded[-1] == "mlflow-artifacts:/1/abc/artifacts/model" and len(client.resolved) == 1
