# The two commands a newcomer needs (see README):
#   make demo   set up and run `orchestrator demo` on the embedded broker
#   make test   set up (system packages, venv, Kafka jars) and run lint, types and every test tier
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
#: the installer is pinned like everything it installs
PIP_VERSION := 26.3

.PHONY: setup system demo test lint bench bench-peer chaos mutation clean

$(BIN)/orchestrator: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q pip==$(PIP_VERSION)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,mlflow,mlflow-server]'
	touch $@

# the event-time hot path of the core compiled with mypyc (pure Python if it cannot be built)
CORE_NATIVE := orchestrator/core/_compiled.json
$(CORE_NATIVE): $(BIN)/orchestrator $(wildcard orchestrator/core/*.py) scripts/build_core.py
	$(BIN)/python -m scripts.build_core

setup: $(BIN)/orchestrator $(CORE_NATIVE)

system:
	bash scripts/install-system.sh

demo: setup
	$(BIN)/orchestrator demo

lint: setup
	$(BIN)/ruff check orchestrator tests bench scripts
	$(BIN)/ruff format --check orchestrator tests bench scripts
	$(BIN)/mypy orchestrator bench

test: system setup lint bench-peer
	bash deploy/kafka/kafka.sh fetch
	bash scripts/build-k8s-tools.sh
	ORCH_EXPECT_COMPILED=1 ORCH_EXPECT_MLFLOW=1 $(BIN)/pytest -q -p no:cacheprovider

# the fault suite at full size: >= 100k events, >= 10 kills, both processing guarantees
chaos: system setup
	bash deploy/kafka/kafka.sh fetch
	CHAOS_FULL=1 $(BIN)/pytest -q -p no:cacheprovider -s tests/chaos

bench: system setup bench-peer
	bash deploy/kafka/kafka.sh fetch
	$(BIN)/python -m bench

# the bench's peer (Quix Streams) in an environment of its own, pinned like ours
QUIX := .venv-quix
$(QUIX)/.installed: bench/peers/quix-requirements.txt
	$(PY) -m venv $(QUIX)
	$(QUIX)/bin/pip install -q pip==$(PIP_VERSION)
	$(QUIX)/bin/pip install -q --no-deps -r bench/peers/quix-requirements.txt
	touch $@

bench-peer: $(QUIX)/.installed

# Mutation testing of the pure core and the contracts against the unit tests (mutmut; its
# settings are in pyproject.toml). A separate environment: mutmut 3.7 needs pytest 8.
MUT := .venv-mutation
$(MUT)/bin/mutmut: pyproject.toml constraints-mutation.txt
	$(PY) -m venv $(MUT)
	$(MUT)/bin/pip install -q pip==$(PIP_VERSION)
	$(MUT)/bin/pip install -q -c constraints-mutation.txt -e '.[dev]' mutmut
	touch $@

mutation: $(MUT)/bin/mutmut
	rm -rf mutants
	ORCH_PURE_CORE=1 ORCH_MUTATION=1 $(MUT)/bin/mutmut run --max-children 2 || true
	$(MUT)/bin/python -m scripts.mutation_report

clean:
	rm -rf $(VENV) $(MUT) $(QUIX) .run deploy/kafka/lib mutants
	$(PY) -m scripts.build_core --clean
