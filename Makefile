# Two commands matter: `make demo` (the whole cycle, end to end) and `make test` (set-up plus every test).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup tools images test-compose migrate demo up test test-fast bench bench-costs bench-needs bench-courses bench-funding bench-http bench-all clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the pinned dependencies

tools:  ## Debian tools the tests use: docker.io + docker-compose + debootstrap (compose stack), chromium + chromedriver (browser test), nginx (proxy test, make proxy), prometheus (its promtool checks deploy/prometheus)
	@command -v docker-compose >/dev/null && command -v dockerd >/dev/null && command -v debootstrap >/dev/null \
	  && command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v promtool >/dev/null \
	  && { command -v nginx >/dev/null || test -x /usr/sbin/nginx; } || { \
	  echo "installing docker.io, docker-compose, debootstrap, chromium, chromium-driver, nginx-light, prometheus (Debian packages)"; \
	  (apt-get install -y -q docker.io docker-compose debootstrap chromium chromium-driver nginx-light prometheus >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null && apt-get install -y -q docker.io docker-compose debootstrap chromium chromium-driver nginx-light prometheus >/dev/null)) \
	  || echo "could not install the Debian tools: the compose and browser tests will fail"; }

migrate: setup  ## bring every service's database to the latest schema
	$(PY) -m shared.migrate

# make demo [DB=postgres] [DEMO_PORT_BASE=8101] [DEMO_NAMESPACE=demo]: SQLite files in var/<namespace> or throw-away
# PostgreSQL databases; web ports N…N+3; exchange <namespace>.training.events, queues <namespace>.*.
demo: setup  ## run a Thới Bình training cycle end to end over HTTP, print a summary, stop (DB=postgres for PostgreSQL)
	$(PY) -m tools.demo

# docs/asyncapi.json from the event catalogue and the HANDLERS tables (tests check it is up to date).
.PHONY: asyncapi
asyncapi: setup  ## write the whole system's AsyncAPI 3.0 event contract to docs/asyncapi.json
	$(PY) -m tools.asyncapi

# make seed [SEED_PEOPLE=111] [SEED_FISCAL_YEAR=<year>] [SEED_SURVEY_YEAR=<year>]: migrates, then seeds each service.
.PHONY: seed
seed: setup  ## reference and sample data of the four services wherever the *_DATABASE_URL point (default var/*.db)
	$(PY) -m tools.seed

# make proxy [PROXY_PORT_BASE=8011]: Debian's nginx with deploy/nginx in front of the webs of `make up`
# (needs 8011 … funding 8014 → 8001-8004), the same limits as the compose `proxy` service.
.PHONY: proxy
proxy: setup  ## nginx (deploy/nginx) in front of the four webs of `make up`, until Ctrl-C
	$(PY) -m tools.stack proxy

# Every process can be scraped: the webs answer GET /metrics on their own port, each worker opens
# <SERVICE>_METRICS_PORT (distinct defaults 9101-9104, as deploy/prometheus and docker-compose.yml use; set one to
# override it, 0 for none).
WORKER_METRICS_PORTS := NEEDS_METRICS_PORT=$${NEEDS_METRICS_PORT:-9101} COURSES_METRICS_PORT=$${COURSES_METRICS_PORT:-9102} \
  EVALUATION_METRICS_PORT=$${EVALUATION_METRICS_PORT:-9103} FUNDING_METRICS_PORT=$${FUNDING_METRICS_PORT:-9104}

up: setup migrate  ## start every process (4 × web, 4 × worker) from the Procfile, worker metrics on 9101-9104; Ctrl-C stops them all
	$(WORKER_METRICS_PORTS) $(PY) -m tools.stack up

test: setup tools  ## set-up plus the whole test suite (needs RabbitMQ and PostgreSQL on localhost)
	$(PY) -m pytest

.PHONY: test-cluster
test-cluster: setup  ## a private 3-node RabbitMQ cluster (5701-5703) and PostgreSQL (5460) on this machine: the completion flow through a killed leader node, a node frozen 45 s and the database stopped 200 s (~10 min)
	CLUSTER_TEST=1 $(PY) -m pytest tests/cluster -s -p no:cacheprovider --timeout 2400

test-fast: setup  ## unit tests only: no broker, no database server
	$(PY) -m pytest tests/unit

# The compose stack started for real (tests/compose/run.py): a private dockerd (--bridge=none, host networking,
# ports 5681-5693/15681-15683, 5441, 8301-8324, 8390, 8180), images built locally and cached, the dev-oidc identity
# provider and per-role tokens, Prometheus with every target up, one cycle to `closed`, restarts, down/up with the
# data kept, the cluster profile, down -v. Skips with one line where dockerd cannot start.
test-compose: setup tools  ## docker-compose stack for real: build, up, health, tokens, Prometheus, one cycle, restarts, down/up, down -v
	$(PY) tests/compose/run.py

images: tools  ## base images where no registry is reachable (debootstrap; cached): python, rabbitmq, postgres, nginx, prometheus stand-ins
	@tests/compose/dockerd.sh || { echo "dockerd cannot start here"; exit 1; }
	DOCKER_HOST=$${DOCKER_HOST:-unix:///run/thoibinh-docker.sock} deploy/local/build-images.sh

bench: setup  ## drain-rate benchmark and complete→closed latency; prints figures (free ports, or BENCH_PORT_BASE=N)
	$(PY) -m tools.bench

bench-costs: setup  ## cost per drained event, counted: statements, round trips, WAL bytes, publishes (one consumer batch)
	$(PY) -m tools.bench_costs

bench-needs: setup  ## national close of a survey campaign (212,606 × 7), needs aggregation per province / country, CSV import
	$(PY) -m tools.bench_needs

bench-courses: setup  ## scheduling 2,000 sessions for 5,000 trainees with conflict checks
	$(PY) -m tools.bench_courses

bench-funding: setup  ## settling 10,000 completed courses × 40 trainees from a backlog
	$(PY) -m tools.bench_funding

bench-http: setup  ## courses' web under load (GET a course, POST attendance) beside a bare Flask endpoint, same gunicorn settings
	$(PY) -m tools.bench_http

bench-all: bench bench-costs bench-needs bench-courses bench-funding bench-http  ## every benchmark, one after another

clean:
	rm -rf var/*.db var/*.db-* var/demo var/test
