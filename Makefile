# A newcomer's two commands: `make run` and `make test`. Everything they need
# is installed here, into .venv, from the pinned requirements.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
# No command here reads a .env file: settings come from the environment alone.
# (The flask CLI loads one whenever python-dotenv is installed, as the
# development set installs it; gunicorn never does. Both must see the same.)
export FLASK_SKIP_DOTENV := 1

.PHONY: install run dev migrate lint format test bench soak clean lock

# Two sets, both pinned: requirements.txt is what the service runs on (make run,
# the image); requirements-dev.txt adds the tests' and tools' (make test).
PIP_INSTALL := $(BIN)/pip install --quiet --disable-pip-version-check

install: $(VENV)/.installed-dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-runtime: requirements.txt | $(VENV)/bin/python
	$(PIP_INSTALL) -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt | $(VENV)/bin/python
	$(PIP_INSTALL) -r requirements-dev.txt
	touch $@

# Re-pins both sets from requirements.in and requirements-dev.in, keeping every
# pin that still fits. A package to its newest version: make lock UPGRADE=flask
lock: install
	$(BIN)/uv pip compile --quiet --python $(BIN)/python --custom-compile-command "make lock" \
		$(foreach package,$(UPGRADE),--upgrade-package $(package)) -o requirements.txt requirements.in
	$(BIN)/uv pip compile --quiet --python $(BIN)/python --custom-compile-command "make lock" \
		$(foreach package,$(UPGRADE),--upgrade-package $(package)) -o requirements-dev.txt requirements-dev.in

migrate: $(VENV)/.installed-runtime
	$(BIN)/flask --app wsgi db upgrade

# Serves on 127.0.0.1:$(PORT) with the image's gunicorn.conf.py; with no
# DATABASE_URL, on instance/app.db (SQLite).
run: migrate
	HOST=127.0.0.1 PORT=$(PORT) $(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

# The development loop: Flask's server, reloading on every change, with the
# debugger, on the same database as make run.
dev: migrate
	$(BIN)/flask --app wsgi run --debug --port $(PORT)

# The suite on PostgreSQL when one answers on 127.0.0.1:5432 or TEST_DATABASE_URL
# names one (SQLite otherwise), then again on SQLite; coverage counts both runs.
# ruff, configured in pyproject.toml: lint findings and unformatted files fail (make format fixes both where it can).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/python -m pytest --cov --cov-report=
	TEST_DATABASE_URL=sqlite $(BIN)/python -m pytest --cov --cov-append --cov-report=term --cov-fail-under=95

# The benchmark (bench/run.py): PostgreSQL at DATABASE_URL or on 127.0.0.1:5432,
# wrk from Debian's package (installed here when missing). Writes bench/results.md.
bench: install
	command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# A few minutes of mixed traffic at 32 connections (bench/soak.py): zero 5xx,
# zero lost writes, flat worker memory. Writes bench/soak.md. Not part of make test.
soak: install
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .coverage .pytest_cache htmlcov
