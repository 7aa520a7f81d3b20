"""The pure, deterministic core: no IO, no clock, no Faust. Everything here is a function of its inputs."""
