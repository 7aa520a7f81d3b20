"""Records in, records out: the core driven by input records, its effects rendered as output
records. Pure (no IO, no clock: the time arrives as an argument). The worker's shells and
`orchestrator replay` run the same functions, so replay re-derives every output the worker
writes, not only the core's decisions."""
