# Verity: `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit install clean contracts

install: $(STAMP)

# (Re)install when the dependency list changes. torch resolves to the CPU wheel on disk (STACK.md).
$(STAMP): pyproject.toml package.json package-lock.json
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	npm ci --no-audit --no-fund --loglevel=error   # project-local solc and anvil
	@touch $(STAMP)

# Recompile the anchor contract with the pinned solc (the artefact is committed).
contracts: $(STAMP)
	node provenance/contracts/compile.js

demo: $(STAMP)
	$(BIN)/verity demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# One pytest-xdist worker per core (at most 4); tests marked xdist_group("redis") share one.
unit: $(STAMP)
	$(BIN)/pytest --numprocesses=auto --maxprocesses=4 --dist=loadgroup

test: lint typecheck unit

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
