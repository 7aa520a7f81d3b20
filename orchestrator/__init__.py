"""Event-driven streaming orchestrator for ML pipelines."""

__version__ = "0.1.0"
