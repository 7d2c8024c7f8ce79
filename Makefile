# Task runner. `make run` and `make test` are the README's two set-up commands: each installs
# what it needs into .venv first, from pyproject.toml pinned by constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# PostgreSQL for the second test run (CI has it on 127.0.0.1:5432, database `test`).
NC_TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: install run test test-sqlite test-postgres check schema migrations bench bench-quick browser panel-vendor

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

# Debian's Chromium, which the panel's browser tests drive through Playwright (Playwright's own
# browser download cannot run here). Without root or apt the tests skip; under CI=true that fails.
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || echo "Chromium not installed: the browser tests will skip"

# The panel's vendored browser libraries, from the npm packages pinned in tests/node: graphql-ws's
# browser build and qrcode-generator's ES module (the page loads them), and axe-core (only the
# accessibility tests inject it; the page never loads it).
panel-vendor: tests/node/node_modules
	cp tests/node/node_modules/graphql-ws/umd/graphql-ws.min.js panel/vendor/graphql-ws.min.js
	cp tests/node/node_modules/graphql-ws/LICENSE.md panel/vendor/LICENSE-graphql-ws.md
	cp tests/node/node_modules/qrcode-generator/dist/qrcode.mjs panel/vendor/qrcode.mjs
	cp tests/node/node_modules/axe-core/axe.min.js panel/vendor/axe.min.js
	cp tests/node/node_modules/axe-core/LICENSE panel/vendor/LICENSE-axe-core.txt
	cp tests/node/node_modules/axe-core/LICENSE-3RD-PARTY.txt panel/vendor/LICENSE-3RD-PARTY-axe-core.txt

test-sqlite: install tests/node/node_modules browser
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
