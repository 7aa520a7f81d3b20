"""The simulator: seeded, complete, and valid where it means to be."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import orjson

from orchestrator.contracts.codec import parse_obj
from orchestrator.policies import Policies
from orchestrator.simulate import EXAMPLE_KEYS, generate, to_lines
from tests.conftest import ROOT

POLICIES = Policies.load(ROOT / "gates")


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    """The same seed (and issue time) gives byte-identical output; another seed does not."""
    at = datetime(2026, 11, 23, 12, tzinfo=UTC)
    a = to_lines(generate(POLICIES, EXAMPLE_KEYS, seed=1, issued_at=at))
    assert a == to_lines(generate(POLICIES, EXAMPLE_KEYS, seed=1, issued_at=at))
    assert a != to_lines(generate(POLICIES, EXAMPLE_KEYS, seed=2, issued_at=at))


def test_stream_has_every_kind_of_input() -> None:
    """Arrivals, watermarks, duplicates, conflicts, model updates, signed and forged commands, malformed."""
    phases = generate(POLICIES, EXAMPLE_KEYS, seed=5)
    events = [e for p in phases for e in p.events]
    types = Counter(e["type"] for e in events)
    assert {
        "data.arrival",
        "data.watermark",
        "model.update",
        "command.rollback",
        "command.override",
    } <= set(types)
    ids = Counter(e["event_id"] for e in events if e["type"] == "data.arrival")
    dupes = [i for i, n in ids.items() if n > 1]
    same = [i for i in dupes if len({orjson.dumps(e) for e in events if e["event_id"] == i}) == 1]
    assert same and set(dupes) - set(same)  # an exact duplicate and a conflicting one
    assert any("forged" in e["event_id"] for e in events) and any(
        "unauthorized" in e["event_id"] for e in events
    )
    assert sum(len(p.malformed) for p in phases) == 3
    for e in events:
        parse_obj(e)  # every non-malformed event is valid


def test_without_keys_commands_are_left_out() -> None:
    """No key for an actor: the simulator does not invent signatures."""
    events = [e for p in generate(POLICIES, {}, seed=5) for e in p.events]
    assert not [e for e in events if e["type"].startswith("command.")]
