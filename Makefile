# Two entry points for a newcomer: `make run` and `make test`. Each installs what it needs first,
# at the versions pinned in requirements.lock (`make lock` refreshes it).
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTHON ?= python3
# uv resolves the lock for every platform and Python >= 3.11 at once (--universal); installing
# from it needs only pip.
UV_VERSION := 0.13.9
LOCK_ARGS := pyproject.toml --all-extras --universal --python-version 3.11 -o requirements.lock

.PHONY: run test lint bench lock

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c requirements.lock -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python app.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/pip install -q -c requirements.lock -e '.[test,bench]'
	$(BIN)/python -m bench.engine

# Re-resolve every dependency to its newest allowed version and rewrite requirements.lock.
lock: $(STAMP)
	$(BIN)/pip install -q uv==$(UV_VERSION)
	$(BIN)/uv pip compile $(LOCK_ARGS) --upgrade
