"""Other stream processors the bench measures beside the worker, each run in an environment of its own."""
