# Every target bootstraps .venv, so on a fresh machine `make demo` and `make test` are the whole set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test up lint bench unit service system soak faults fuzz docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/flashsale demo

up: $(STAMP)
	$(BIN)/flashsale up

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	tests/typecheck.sh $(BIN)/mypy
	$(BIN)/lint-imports

# Test files run three at a time (each test waits mostly on its processes, databases and broker);
# a file stays on one worker, so its module-wide fixtures (a running house) are started once, and
# the system tests share one worker (tests/conftest.py says why).
test: lint
	$(BIN)/pytest -n 3 --dist loadfile --durations=25

unit: $(STAMP)
	$(BIN)/pytest tests/unit

# Longer than `make test` can afford: the chaos sale with more buyers and more processes killed,
# and the inventory rules against the real store over many more random examples.
soak: $(STAMP)
	FLASHSALE_CHAOS_BUYERS=2000 FLASHSALE_CHAOS_KILLS=8 $(BIN)/pytest -s tests/system/test_chaos.py
	FLASHSALE_RULES_EXAMPLES=1000 $(BIN)/pytest tests/service/test_inventory_rules_stateful.py

# The fault suite at full length (make test runs a short one): 2,000 buyers over 100 s while payments
# dies mid-capture, the broker is down for 30 s, PostgreSQL restarts, an order instance is paused and
# processes are killed every 1.5 s; it prints what was injected and what the audit found.
faults: $(STAMP)
	FLASHSALE_FAULT_SUITE=long $(BIN)/pytest -s tests/system/test_fault_suite.py

# Every service's OpenAPI document against the service itself, and the gateway's against a running house,
# with many more requests per operation than the bounded run in `make test` (tests/service/test_openapi_fuzz.py
# and tests/system/gateway_fuzz.py say what is checked).
fuzz: $(STAMP)
	FLASHSALE_FUZZ_EXAMPLES=100 $(BIN)/pytest -n 3 tests/service/test_openapi_fuzz.py
	FLASHSALE_FUZZ_EXAMPLES=100 $(BIN)/pytest -s tests/system/test_internal_auth.py -k openapi

# What docs/ holds that the code writes itself: each service's OpenAPI document, each event's JSON
# schema and the contract's events table (src/flashsale/contract_docs.py; a test fails when they are stale).
docs: $(STAMP)
	$(BIN)/python -m flashsale.contract_docs

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.holds

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
