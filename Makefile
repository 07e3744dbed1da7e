# Two commands matter: `make demo` (the whole cycle, end to end) and `make test` (set-up plus every test).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup tools migrate demo up test test-fast bench bench-needs bench-courses bench-funding bench-all clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the pinned dependencies

tools:  ## Debian tools the test suite uses: docker-compose (compose validation), chromium + chromedriver (browser test)
	@command -v docker-compose >/dev/null && command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  echo "installing docker-compose, chromium, chromium-driver (Debian packages)"; \
	  (apt-get install -y -q docker-compose chromium chromium-driver >/dev/null 2>&1 || (apt-get update -q >/dev/null && \
	   apt-get install -y -q docker-compose chromium chromium-driver >/dev/null)) \
	  || echo "could not install the Debian tools: the compose and browser tests will fail"; }

migrate: setup  ## bring every service's database to the latest schema
	$(PY) -m shared.migrate

demo: setup  ## run a Thới Bình training cycle end to end over HTTP, print a summary, stop
	$(PY) -m tools.demo

up: setup migrate  ## start every process (4 × web, 4 × worker) from the Procfile; Ctrl-C stops them all
	$(PY) -m tools.stack up

test: setup tools  ## set-up plus the whole test suite (needs RabbitMQ and PostgreSQL on localhost)
	$(PY) -m pytest

test-fast: setup  ## unit tests only: no broker, no database server
	$(PY) -m pytest tests/unit

bench: setup  ## drain-rate benchmark and complete→closed latency; prints figures
	$(PY) -m tools.bench

bench-needs: setup  ## national-size registry (212,606 × 7): needs aggregation per province / country, 10,000-row CSV import
	$(PY) -m tools.bench_needs

bench-courses: setup  ## scheduling 2,000 sessions for 5,000 trainees with conflict checks
	$(PY) -m tools.bench_courses

bench-funding: setup  ## settling 10,000 completed courses × 40 trainees from a backlog
	$(PY) -m tools.bench_funding

bench-all: bench bench-needs bench-courses bench-funding  ## every benchmark, one after another

clean:
	rm -rf var/*.db var/*.db-* var/demo var/test
