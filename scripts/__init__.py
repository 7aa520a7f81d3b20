"""Build and report scripts of the repository (not part of the package)."""
