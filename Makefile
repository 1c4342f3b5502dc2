# BPO Ops: `make dev` runs the product on its embedded default, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: dev test check lint typecheck pytest install bench fuzz load clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found %s)" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

dev: install
	$(BIN)/bpo dev

test: install lint typecheck pytest

lint: install
	$(BIN)/ruff check src tests bench workers
	$(BIN)/ruff format --check src tests bench workers
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# Test files run in parallel processes (pytest-xdist), each with its own embedded PostgreSQL and Redis
# (or its own database and Redis databases on servers given by BPO_DATABASE_URL / BPO_REDIS_URL); the 25
# slowest tests are listed at the end of every run. PYTEST_WORKERS=0 runs them in this process.
PYTEST_WORKERS ?= 3
pytest: install
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=25

# Schema fuzzing in depth: many examples per operation, boundary values, stateful sequences (CI runs a
# few), in two parallel processes; FUZZ_EXAMPLES=200 goes deeper still (hours on 2 cores).
fuzz: install
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-50} $(BIN)/pytest -n 2 tests/security/test_fuzz.py

bench: install
	$(BIN)/python bench/api.py --quick
	$(BIN)/python bench/scale.py --quick

# 50 tenants under a mixed load for 5 minutes (bench/load.py --quick: 60 s).
load: install
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) .bpo .pytest_cache .mypy_cache .ruff_cache
