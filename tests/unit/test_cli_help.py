"""Every verb's --help: an example, help text for every argument, and only the flags it uses."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from orchestrator.cli_parser import build_parser


def walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser of the tree, with the words that reach it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, (*path, name))


PARSERS = dict(walk(build_parser()))
LEAVES = {
    path: p
    for path, p in PARSERS.items()
    if not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)
}


def flags(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings}


def test_the_tree_has_every_verb() -> None:
    """The walk below covers each verb and action (so the other tests cover them too)."""
    assert set(LEAVES) == {
        ("topics", "apply"),
        ("produce",),
        ("tail",),
        ("schema", "export"),
        ("rollback",),
        ("override",),
        ("simulate",),
        ("acls",),
        ("worker",),
        ("demo",),
        ("dev",),
        ("replay",),
        ("audit", "history"),
        ("audit", "lineage"),
        ("audit", "champion"),
        ("audit", "index"),
        ("audit", "sql"),
        ("audit", "export"),
        ("mlflow", "sync"),
    }


@pytest.mark.parametrize("path", sorted(PARSERS), ids=lambda p: " ".join(p) or "orchestrator")
def test_every_help_shows_an_example_of_its_own_verb(path: tuple[str, ...]) -> None:
    """The epilog has an `examples:` section whose lines run this very verb."""
    text = PARSERS[path].format_help()
    assert "\nexamples:\n" in text
    examples = text.split("\nexamples:\n", 1)[1].splitlines()
    assert examples and all(line.startswith("  orchestrator ") for line in examples)
    assert any(line.startswith("  " + " ".join(("orchestrator", *path))) for line in examples)


@pytest.mark.parametrize("path", sorted(PARSERS), ids=lambda p: " ".join(p) or "orchestrator")
def test_every_argument_has_help(path: tuple[str, ...]) -> None:
    """No argument, positional or flag, goes without a description."""
    for action in PARSERS[path]._actions:
        if isinstance(action, argparse._SubParsersAction):
            assert all(c.help for c in action._choices_actions), path
            continue
        assert action.help and action.help != argparse.SUPPRESS, (path, action.dest)


BROKER_FLAGS = {"--broker", "--topics", "--gates", "--config", "--log-level"}


@pytest.mark.parametrize(
    ("path", "absent"),
    [
        (("schema", "export"), BROKER_FLAGS - {"--topics"}),  # --topics names its topics
        (("tail",), {"--gates"}),
        (("topics", "apply"), {"--gates"}),
        (("acls",), {"--gates"}),
        (("dev",), {"--broker"}),
        (("audit", "sql"), {"--broker", "--gates"}),
        (("audit", "export"), {"--broker", "--gates"}),
        (("audit", "history"), {"--gates"}),
    ],
)
def test_a_verb_lists_only_the_flags_it_uses(path: tuple[str, ...], absent: set[str]) -> None:
    """Shared flags come in groups, and a verb takes only the groups it reads."""
    assert not flags(PARSERS[path]) & absent
    assert not {f for f in absent if f"  {f}" in PARSERS[path].format_help()}


def test_schema_export_help_has_no_broker() -> None:
    """`schema export --help` lists neither a broker nor settings flags."""
    text = PARSERS[("schema", "export")].format_help()
    assert "--broker" not in text and "--config" not in text


def test_debug_is_taken_everywhere() -> None:
    """--debug is global: every parser of the tree takes it."""
    assert all("--debug" in flags(p) for p in PARSERS.values())
