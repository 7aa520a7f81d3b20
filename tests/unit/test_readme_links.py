"""The README is read on a fresh clone: every file it links is in the repository."""

from __future__ import annotations

import re

from tests.conftest import ROOT

LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_every_relative_link_of_the_readme_is_a_file_of_the_repository() -> None:
    text = (ROOT / "README.md").read_text()
    targets = [t for t in LINK.findall(text) if "://" not in t and not t.startswith("mailto:")]
    assert targets, "the README links its documents"
    for target in targets:
        path = (ROOT / target).resolve()
        assert path.is_relative_to(ROOT.resolve()), f"{target}: outside the repository"
        assert path.exists(), f"{target}: no such file in the repository"
