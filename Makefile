# Task runner. `make run` and `make test` are the README's two set-up commands: each installs
# what it needs into .venv first, from pyproject.toml pinned by constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# PostgreSQL for the second test run (CI has it on 127.0.0.1:5432, database `test`).
NC_TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: install run test test-sqlite test-postgres check schema migrations bench bench-quick

$(BIN)/notification-center: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -c constraints.txt
	touch $@

install: $(BIN)/notification-center

run: install
	$(BIN)/notification-center serve --demo

test: install test-sqlite test-postgres

# The npm graphql-ws client that one live test runs with node.
tests/node/node_modules: tests/node/package.json tests/node/package-lock.json
	npm ci --prefix tests/node --no-audit --no-fund --silent
	touch $@

test-sqlite: install tests/node/node_modules
	env -u NC_DATABASE_URL $(BIN)/python -m pytest

test-postgres: install tests/node/node_modules
	NC_DATABASE_URL=$(NC_TEST_POSTGRES_URL) $(BIN)/python -m pytest

# The build's rules: lint, format, the layers' import contracts (pyproject.toml [tool.importlinter]).
CODE := api core services models resolvers channels domain tests bench
check: install
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/lint-imports
	$(BIN)/mypy

schema: install
	$(BIN)/notification-center export-schema > schema.graphql

# After changing a model: write the next versioned migration into models/migrations/.
migrations: install
	$(BIN)/tortoise -c api.tortoise_config.TORTOISE_ORM makemigrations

# Benchmarks (bench/README.md): writes bench/results/latest.json and REPORT.md.
bench: install
	$(BIN)/python -m bench.run

bench-quick: install
	$(BIN)/python -m bench.run --quick --results-dir $(or $(BENCH_QUICK_DIR),/tmp/nc-bench-quick)
