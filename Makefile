# Two commands do everything on a fresh Debian machine (as root):
#   make run   install what is missing, start PostgreSQL and Redis, migrate, load the
#              West Mercia boundaries, then run web + worker + beat until Ctrl-C
#   make test  the same installation, then the whole test suite
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed

.PHONY: run test install system services database lint bench-ingest bench-hotspots bench-tiles \
	bench-priorities

run: database
	$(PY) manage.py load_west_mercia --if-missing
	$(PY) manage.py load_demo --if-missing
	$(PY) manage.py load_demo --region sheffield --if-missing
	$(PY) manage.py collectstatic --noinput -v 0
	exec scripts/run.sh

test: database
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(PY) manage.py makemigrations --check --dry-run

bench-ingest: database
	$(PY) -m bench.ingest

bench-hotspots: database
	$(PY) -m bench.hotspots

bench-tiles: database
	$(PY) -m bench.tiles

bench-priorities: database
	$(PY) -m bench.priorities

system:
	@scripts/install-system.sh

$(STAMP): pyproject.toml
	@test -x $(PY) || python3.11 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

# MapLibre GL JS for the planner map, from the npm registry, served as static files.
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: system $(STAMP) $(NPM_STAMP)

services: install
	@scripts/start-services.sh

database: services
	$(PY) manage.py ensure_database
	$(PY) manage.py migrate --noinput -v 0
