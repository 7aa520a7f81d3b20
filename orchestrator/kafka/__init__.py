"""Broker plumbing: the embedded broker, connecting, admin (topics apply)."""
