# The two commands: `make run` and `make test`. Everything they need is installed here.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format bench clean deps

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

deps: $(VENV)/.installed node_modules/.installed

run: deps
	$(BIN)/aicrm migrate
	$(BIN)/aicrm seed-demo --if-empty
	$(BIN)/aicrm serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: $(VENV)/.installed
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# SQLite always; PostgreSQL and Redis too when they answer on their usual local ports.
test: deps lint
	@eval "$$($(BIN)/python scripts/test_services.py)"; \
	echo "TEST_DATABASE_URL=$${TEST_DATABASE_URL:-<unset: SQLite only>} TEST_REDIS_URL=$${TEST_REDIS_URL:-<unset>}"; \
	$(BIN)/pytest -q -p no:cacheprovider

bench: deps
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) node_modules data .pytest_cache test-artifacts
