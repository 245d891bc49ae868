# `make run` and `make test` are all a fresh machine needs; see README.md.
# `make run` serves the development server and the delivery worker together (bin/run-dev).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run serve test lint format migrations-check check proto clean bench

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.runtime: $(VENV)/bin/python requirements.txt
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	DJANGO_DEBUG=true $(PY) manage.py migrate --noinput
	DJANGO_DEBUG=true $(PY) manage.py createcachetable
	DJANGO_DEBUG=true $(PY) manage.py seed_demo --base-url http://$(HOST):$(PORT)
	DJANGO_DEBUG=true $(PY) bin/run-dev $(PY) $(HOST):$(PORT)

# The production profile of deploy/ (gunicorn + the delivery worker, DEBUG off) on PostgreSQL; see bin/serve.
serve: $(VENV)/.runtime
	bin/serve

test: $(VENV)/.dev
	bin/with-postgres $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations-check: $(VENV)/.dev
	DJANGO_DEBUG=true $(PY) manage.py makemigrations --check --dry-run

# Everything CI runs: lint, migrations, and the whole suite on PostgreSQL.
check: lint migrations-check test

# Regenerates the manage surface's protobuf module from manage.proto (the generated file is checked in).
proto: $(VENV)/.dev
	$(PY) -m grpc_tools.protoc -I otpsite/api/manage --python_out=otpsite/api/manage otpsite/api/manage/manage.proto

# Load benchmark on a throwaway PostgreSQL: SCALE=50k|1m, DURATION=10, CONNECTIONS=8, WORKERS=2, PGBOUNCER=1,
# PGBENCH=1 (also the primary's write ceiling); STALLED=1 instead times generates and an unrelated request
# while the SMS webhook, then the SMTP server, never answers (bench/stalled.py; PROVIDER_TIMEOUT=2, WORKERS)
# IMPORT=1 [IMPORT_ROWS=100000] instead times the console's people import (bench/import_people.py)
# (see bench/run.py and docs/scaling.md). Installs wrk and PgBouncer with apt-get when they are missing.
bench: $(VENV)/.runtime
	bench/run.sh

clean:
	rm -rf $(VENV) db.sqlite3 media staticfiles .pytest_cache .ruff_cache
