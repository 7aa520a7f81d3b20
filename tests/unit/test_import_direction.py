"""The layers import downwards only (README, Layout; STYLE: wire shapes in contracts, logic in
core, never the other way): contracts never import the core, the core never imports the
pipeline, the worker or anything that does IO, and the pipeline never imports the worker,
replay or a Kafka client. Read from the source, so a new import that breaks a rule fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "orchestrator"


def imports(path: Path) -> set[str]:
    """Every module `path` imports, absolute (from-imports name the module, plus the name when
    the module is a package: `from orchestrator import errors` is `orchestrator.errors`)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def under(names: set[str], *prefixes: str) -> list[str]:
    return sorted(n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes))


OURS = [
    "orchestrator.pipeline",
    "orchestrator.worker",
    "orchestrator.replay",
    "orchestrator.audit",
    "orchestrator.kafka",
    "orchestrator.catalog",
    "orchestrator.policies",
    "orchestrator.settings",
    "orchestrator.cli",
    "orchestrator.demo",
    "orchestrator.dev",
    "orchestrator.simulate",
    "orchestrator.mlflow_bridge",
]
#: what the pure core may not touch: IO, the clock, the environment, the hosts
IO = ["aiokafka", "faust", "structlog", "socket", "asyncio", "time", "os", "subprocess", "urllib"]


def modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).glob("*.py"))


@pytest.mark.parametrize("path", modules("contracts"), ids=lambda p: p.name)
def test_contracts_import_no_logic(path: Path) -> None:
    """Contracts are wire shapes: they import errors and each other, nothing above."""
    assert under(imports(path), "orchestrator.core", *OURS) == []


@pytest.mark.parametrize(
    "path", [p for p in modules("core") if p.name != "__init__.py"], ids=lambda p: p.name
)
def test_the_core_imports_no_shell_and_no_io(path: Path) -> None:
    """The core imports contracts, errors and itself; no pipeline, worker or IO, no clock."""
    names = imports(path)
    assert under(names, *OURS) == []
    assert under(names, *IO) == []


@pytest.mark.parametrize("path", modules("pipeline"), ids=lambda p: p.name)
def test_the_pipeline_imports_no_worker_no_replay_and_no_client(path: Path) -> None:
    """Records in, records out: the pipeline imports the core, contracts, the catalog and the
    policies; never the worker, replay, audit, the CLI or a Kafka client (aiokafka's
    TopicPartition, a named tuple, is the one name it takes from there)."""
    names = imports(path)
    assert (
        under(
            names,
            "orchestrator.worker",
            "orchestrator.replay",
            "orchestrator.audit",
            "orchestrator.kafka",
            "orchestrator.cli",
            "orchestrator.demo",
            "orchestrator.dev",
        )
        == []
    )
    assert [
        n for n in under(names, "aiokafka") if n not in ("aiokafka", "aiokafka.TopicPartition")
    ] == []
    assert under(names, "faust", "socket", "asyncio") == []


def test_the_rules_see_imports() -> None:
    """The checker itself: it finds a forbidden import where there is one."""
    assert under(imports(PACKAGE / "worker" / "app.py"), "faust")
    assert under(imports(PACKAGE / "pipeline" / "shell.py"), "orchestrator.core")


# -- the tests and the testing module --------------------------------------------------------

REPO = PACKAGE.parent
TESTS = REPO / "tests"


def imported_files(source: str, package: tuple[str, ...]) -> set[Path]:
    """The files of this repository that `source`, a module of `package`, imports; relative
    imports resolved, and `from tests.unit import test_x` counted as importing test_x.py."""
    out: set[Path] = set()
    for node in ast.walk(ast.parse(source)):
        names: list[tuple[str, ...]] = []
        if isinstance(node, ast.Import):
            names = [tuple(a.name.split(".")) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = (*base, *(node.module.split(".") if node.module else ()))
            names = [module, *((*module, a.name) for a in node.names)]
        for parts in names:
            for end in range(1, len(parts) + 1):
                candidate = REPO.joinpath(*parts[:end]).with_suffix(".py")
                if candidate.is_file():
                    out.add(candidate)
    return out


def imported_test_modules(source: str, package: tuple[str, ...]) -> list[str]:
    """The test modules (test_*.py) that `source` imports, relative to the repository."""
    return sorted(
        f.relative_to(REPO).as_posix()
        for f in imported_files(source, package)
        if f.name.startswith("test_")
    )


def test_no_test_module_imports_another() -> None:
    """What tests share lives in helper modules (conftest, factories, the *_support modules,
    orchestrator.testing), never in a test file: a test file's names are its own to change
    (h11 keeps its shared helpers in tests/helpers.py)."""
    found = {
        path.relative_to(REPO).as_posix(): imported
        for path in sorted(TESTS.rglob("*.py"))
        if (
            imported := imported_test_modules(
                path.read_text(encoding="utf-8"), path.parent.relative_to(REPO).parts
            )
        )
    }
    assert found == {}


@pytest.mark.parametrize(
    "source",
    [
        "from tests.unit.test_modelgate import gate",
        "import tests.unit.test_modelgate",
        "from tests.unit import test_modelgate",
        "from . import test_modelgate",
        "from .test_modelgate import gate",
        "from ..unit.test_modelgate import gate",
    ],
)
def test_the_check_sees_every_form_of_a_test_import(source: str) -> None:
    """The checker itself: absolute, from-package and relative imports of a test module."""
    assert imported_test_modules(source, ("tests", "unit")) == ["tests/unit/test_modelgate.py"]


def test_the_check_lets_helper_modules_through() -> None:
    """Helper modules are no test modules, whatever they are called inside."""
    source = (
        "from tests.conftest import ROOT\nfrom tests import factories\nimport orchestrator.testing"
    )
    assert imported_test_modules(source, ("tests", "unit")) == []


def test_the_testing_module_is_the_top_layer() -> None:
    """orchestrator.testing may import anything in the package, and nothing there imports it;
    it is shipped, so it imports no test framework (structlog's `testing` module)."""
    importers = [
        p.relative_to(REPO).as_posix()
        for p in sorted(PACKAGE.rglob("*.py"))
        if p.name != "testing.py" and under(imports(p), "orchestrator.testing")
    ]
    assert importers == []
    assert under(imports(PACKAGE / "testing.py"), "pytest", "_pytest", "hypothesis") == []
