# Two commands do all set-up on a fresh clone (see README.md):
#   make demo   runs the main job end to end on the embedded emulator
#   make test   runs the whole check suite (ruff, mypy --strict, pytest)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# the unit tests: no end-to-end job module, no run of the docs, no wheel build
UNIT   := --ignore-glob='*_e2e.py' --ignore=tests/test_docs.py --ignore=tests/test_wheel.py \
          --ignore=tests/live --ignore=tests/test_live_suite.py
# the lowest versions pyproject.toml allows for our direct dependencies (uv's
# lowest-direct resolution), in a venv of their own
LOWEST := .venv-lowest

.PHONY: demo test test-fast test-engines test-lowest lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/osspolicy demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

# both cores (pytest-xdist), a test module per worker: a module's emulator fixture is
# started once, and its tests keep their order. Three workers on two cores: an
# end-to-end test spends much of its time waiting (on the emulator's latency, a retry's
# backoff, a subprocess), and a third worker fills those waits (measured on this 2-core
# machine: 4:58 with -n 3 against 6:43 with -n 2, the same suite and load)
XDIST  := -n 3 --dist loadfile

pytest: $(STAMP)
	$(BIN)/pytest $(XDIST)

test: lint typecheck pytest

test-fast: $(STAMP)
	$(BIN)/pytest -q $(XDIST) $(UNIT)

# `make test` runs the end-to-end tests on the default engine, and on the aio engine only
# where a module is marked `both_engines` (tests/conftest.py); this runs the aio variants
# it leaves out, so that CI still covers every test on both engines
test-engines: $(STAMP)
	OSSPOLICY_TEST_ENGINES=rest $(BIN)/pytest -q $(XDIST)

# do the floors in pyproject.toml hold? The unit tests, plus the aio engine's connection
# pool (it subclasses aiohttp's connector), on the oldest allowed direct dependencies
test-lowest:
	rm -rf $(LOWEST)
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/pip install --quiet uv
	$(LOWEST)/bin/uv pip install --quiet --python $(LOWEST)/bin/python \
	    --resolution lowest-direct -e '.[dev]'
	$(LOWEST)/bin/pytest -q -p no:cacheprovider $(XDIST) $(UNIT)
	$(LOWEST)/bin/pytest -q -p no:cacheprovider tests/test_connections_e2e.py

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(ARGS)

clean:
	rm -rf $(VENV) $(LOWEST) .pytest_cache .mypy_cache .ruff_cache
