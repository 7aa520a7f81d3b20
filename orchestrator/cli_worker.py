"""CLI verbs that run the long-lived service (filled in by the event-time engine)."""

from __future__ import annotations

import argparse


def register(verbs: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add the service verbs to the parser."""
