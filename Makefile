# Every target bootstraps .venv on first use; a fresh machine needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint format bench bench-peer bench-scale deploy-check screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

dev: $(STAMP)  ## Run the whole platform locally (starts local services when none are configured).
	$(BIN)/platformctl dev

test: $(STAMP)  ## Run the test suite (starts local services when none are configured).
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || echo "note: the browser tests (tests/browser) need Chromium: apt-get install chromium (Debian's package); they fail without it"
	$(BIN)/python -m pytest -n $${PYTEST_WORKERS:-2} --dist loadgroup $(PYTEST_ARGS)

lint: $(STAMP)  ## Lint with ruff.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)  ## Run the benchmarks (by hand; results go to bench/RESULTS.md).
	$(BIN)/python -m bench.run_all

bench-peer: $(STAMP)  ## The platform against django-tenants (own venv under .dev/peer-venv; its section of bench/RESULTS.md).
	$(BIN)/python -m bench.run_all --only peer_django_tenants

bench-scale: $(STAMP)  ## Load spread over 1,000 and 10,000 tenants against 2, affinity on and off (by hand).
	$(BIN)/python -m bench.tenant_scale

screenshots: $(STAMP)  ## Photograph the console's pages from a running `make dev` (docs/screenshots/).
	$(BIN)/python docs/screenshots.py

deploy-check: $(STAMP)  ## Lint and render the Dockerfile, compose file and Helm chart.
	$(BIN)/python -m pytest -n 0 tests/deploy

clean:
	rm -rf $(VENV) .dev/test .pytest_cache
