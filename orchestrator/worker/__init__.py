"""The imperative shell: Faust agents that feed the pure core and carry out its effects."""
