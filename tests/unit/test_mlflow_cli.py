"""`orchestrator mlflow sync` without the extra, without a tracking server, with a bad model:
one line each, exit 2, before anything is sent."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, run_cli
from tests.mlflow_required import EXPECT_ENV, mlflow_tracking

NO_MLFLOW = "import sys; sys.modules['mlflow'] = None; "


def test_the_base_package_imports_the_bridge_without_mlflow() -> None:
    """The pure plan, the shell module and the verb import without the [mlflow] extra."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            NO_MLFLOW + "import orchestrator.mlflow_bridge.plan, orchestrator.mlflow_bridge.sync, "
            "orchestrator.cli_mlflow, orchestrator.examples.trainer",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr


def test_without_the_extra_the_verb_says_what_to_install() -> None:
    """One line naming the pip command, exit 2."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            NO_MLFLOW + "from orchestrator.cli import main; "
            "sys.exit(main(['mlflow', 'sync', '--tracking-uri', 'http://127.0.0.1:9']))",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 2
    assert out.stderr == (
        "orchestrator: error: `orchestrator mlflow` needs the MLflow client: "
        "pip install -e '.[mlflow]' in the repository (the package is not on PyPI)\n"
    )


def test_without_a_tracking_uri_it_says_how_to_give_one() -> None:
    """With the client installed and no URI anywhere: one line saying how to give one, exit 2."""
    mlflow_tracking()
    out = run_cli("mlflow", "sync", env={"MLFLOW_TRACKING_URI": ""})
    assert out.returncode == 2
    assert out.stderr == (
        "orchestrator: error: no MLflow tracking server: pass --tracking-uri URI or set "
        "MLFLOW_TRACKING_URI\n"
    )


def test_a_model_without_a_policy_is_refused() -> None:
    """The worker would refuse its updates (E_UNKNOWN_MODEL): said before anything is sent."""
    mlflow_tracking()  # the verb checks for the client first
    out = run_cli("mlflow", "sync", "--tracking-uri", "http://127.0.0.1:9", "--model", "nosuch")
    assert out.returncode == 2
    assert out.stderr.startswith("orchestrator: error: (command line): --model: 'nosuch' has no")
    assert len(out.stderr.splitlines()) == 1


def test_the_trainer_without_the_extra_says_what_to_install() -> None:
    """The example trainer asked to register in MLflow without the client: one line, exit 2."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            NO_MLFLOW + "from orchestrator.examples.trainer import main; "
            "sys.exit(main(['--broker', '127.0.0.1:9', '--mlflow-tracking-uri', 'http://x']))",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 2
    assert "pip install -e '.[mlflow]' in the repository (the package is not on PyPI)" in out.stderr


def test_an_unreachable_tracking_server_is_one_line() -> None:
    """No server at the URI: one line saying what to check, exit 2, no retry chatter."""
    mlflow_tracking()
    out = run_cli("mlflow", "sync", "--tracking-uri", "http://127.0.0.1:9", "--broker", "x:1")
    assert out.returncode == 2
    assert out.stderr == (
        "orchestrator: error: mlflow http://127.0.0.1:9: cannot connect: is the tracking server "
        "running there? check --tracking-uri (or MLFLOW_TRACKING_URI)\n"
    )


def test_the_trainer_registers_in_mlflow_only_when_asked() -> None:
    """MLFLOW_TRACKING_URI alone does not switch the (demo's) trainer to MLflow; the flag
    does, with a URI or alone for the variable's; alone without the variable is an error."""
    from orchestrator.examples.trainer import options

    env = {"MLFLOW_TRACKING_URI": "http://mlflow:5000"}
    assert options([], env).mlflow_tracking_uri is None
    assert options(["--mlflow-tracking-uri"], env).mlflow_tracking_uri == "http://mlflow:5000"
    uri = options(["--mlflow-tracking-uri", "http://other:5000"], env).mlflow_tracking_uri
    assert uri == "http://other:5000"
    with pytest.raises(SystemExit) as exc:
        options(["--mlflow-tracking-uri"], {})
    assert exc.value.code == 2


@pytest.mark.parametrize(
    "args",
    [
        ["--collect-only", "tests/integration/test_mlflow_bridge.py"],
        ["tests/unit/test_mlflow_cli.py::test_an_unreachable_tracking_server_is_one_line"],
    ],
)
def test_the_mlflow_tests_fail_without_the_extra_when_it_is_expected(args: list[str]) -> None:
    """Without the MLflow client the tests that need it are skipped; under ORCH_EXPECT_MLFLOW=1
    (`make test`) they fail, so CI cannot pass with them silently skipped."""

    def run(expect: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-c",
                NO_MLFLOW + "import pytest; sys.exit(pytest.main(sys.argv[1:]))",
                "-q",
                "-p",
                "no:cacheprovider",
                *args,
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, EXPECT_ENV: expect},
            timeout=120,
        )

    skipped = run("")
    assert skipped.returncode in (0, 5), skipped.stdout + skipped.stderr
    assert "SKIPPED" in skipped.stdout and "needs the [mlflow] extra" in skipped.stdout
    failed = run("1")
    assert failed.returncode in (1, 2), failed.stdout + failed.stderr
    assert f"{EXPECT_ENV}=1 but the MLflow client does not import" in failed.stdout
