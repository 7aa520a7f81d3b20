"""Examples around the orchestrator (not part of the service): a tiny trainer."""
