"""`make seed`: reference and sample data of the four services, wherever the *_DATABASE_URL variables point.

    python -m tools.seed [--people 111] [--fiscal-year YYYY] [--survey-year YYYY] [--no-migrate]
    make seed [SEED_PEOPLE=111] [SEED_FISCAL_YEAR=YYYY] [SEED_SURVEY_YEAR=YYYY]

By default the databases are `make up`'s SQLite files in var/ (VAR_DIR). Each service keeps its own copy of the
codes, so each is seeded on its own, with what the services already ship (nothing is seeded twice: every step
skips what exists):
- every database is first brought to the latest revision (`shared.migrate`; `--no-migrate` skips it) — courses'
  topics, length caps, lecturer standard, on-duty share and buổi times, and evaluation's question bank, form
  templates and rules are sample rows of their migrations;
- needs: `python -m services.needs.admin seed N` — the 12 former units, the 2025-07-01 merger into 5 communes, the
  positions, the competency framework and rules, N synthetic civil servants (their registry events wait in needs'
  outbox: courses and funding receive them once needs' worker runs, e.g. under `make up`); with `--survey-year`
  also that year's sample survey campaign with every answer filled, left open to be closed;
- funding: `python -m services.funding.admin seed <year>` — the sample (MẪU) cost norms and sample budget lines for
  2025–2030 and the fiscal year (default: this year, kept inside the 2025–2030 scheme);
- when RabbitMQ answers (AMQP_URL), every service's queues are declared on the event exchange (EVENT_EXCHANGE,
  QUEUE_PREFIX), as each worker declares its own at start: needs' registry events then wait in courses' and
  funding's queues even if needs' relay publishes them before those workers are up (on a fresh broker a message
  routed to no queue is dropped). Without a broker this step is skipped with a note.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from datetime import date

from shared.config import SERVICES, load_settings


def scheme_year() -> int:
    return min(max(date.today().year, 2025), 2030)


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.seed", description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=_env_int("SEED_PEOPLE") or 111,
                        help="synthetic civil servants in needs (default: $SEED_PEOPLE or 111)")
    parser.add_argument("--fiscal-year", type=int, default=_env_int("SEED_FISCAL_YEAR") or scheme_year(),
                        help="funding's budget lines also for this year (default: $SEED_FISCAL_YEAR or this year)")
    parser.add_argument("--survey-year", type=int, default=_env_int("SEED_SURVEY_YEAR"),
                        help="also open needs' filled-in sample survey campaign of this year (2025–2030)")
    parser.add_argument("--no-migrate", action="store_true", help="do not upgrade the databases first")
    args = parser.parse_args(argv)
    if args.people < 0:
        parser.error("--people: 0 or more")
    if args.survey_year is not None and not 2025 <= args.survey_year <= 2030:
        parser.error("--survey-year: inside the 2025–2030 scheme")
    return args


def _run_cli(main, argv: list[str]) -> str:
    """Run a service's admin CLI, returning what it printed; raise when it fails."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    if code != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {code}")
    return out.getvalue().strip()


def where(service: str) -> str:
    import sqlalchemy as sa
    return sa.make_url(load_settings(service).database_url).render_as_string(hide_password=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from services.funding import admin as funding_admin
    from services.needs import admin as needs_admin

    try:
        if not args.no_migrate:
            from shared.migrate import upgrade
            for svc in SERVICES:
                upgrade(svc, load_settings(svc).database_url)
        print(f"needs      ({where('needs')}): "
              + _run_cli(needs_admin.main, ["seed", str(args.people)]))
        if args.survey_year:
            print(f"needs      survey {args.survey_year}: {seed_survey(args.survey_year)}")
        print(f"funding    ({where('funding')}): "
              + _run_cli(funding_admin.main, ["seed", str(args.fiscal_year)]))
        print(f"broker     {declare_queues()}")
        for svc in ("courses", "evaluation"):
            print(f"{svc:<10} ({where(svc)}): reference data from its migrations"
                  + ("; trainees arrive from needs' events once the workers run (make up)" if svc == "courses"
                     else ""))
    except Exception as exc:  # noqa: BLE001 - one line, non-zero
        print(f"seed failed: {exc.__class__.__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
              file=sys.stderr)
        return 1
    return 0


def declare_queues() -> str:
    """Declare each service's exchange and queues (shared.bus.topology, bindings from its HANDLERS)."""
    import importlib

    from kombu import Connection

    from shared.bus import topology
    from tools.stack import broker_error

    url = load_settings("needs").amqp_url
    err = broker_error(url)
    if err:
        return (f"not reachable at {url} ({err}): queues not declared; start the workers (make up) before needs' "
                "relay publishes, or run make seed again once the broker is up")
    with Connection(url, connect_timeout=5) as conn:
        channel = conn.channel()
        for svc in SERVICES:
            handlers = importlib.import_module(f"services.{svc}.handlers").HANDLERS
            topology.declare(load_settings(svc), channel, handlers)
    return f"queues of {', '.join(SERVICES)} declared on {load_settings('needs').exchange} (registry events wait there)"


def seed_survey(year: int) -> dict:
    """needs' sample survey campaign of `year` (services.needs.usecases.seed_survey), in its own transaction."""
    from services.needs import usecases
    from shared.db import make_engine, make_session_factory, transaction

    engine = make_engine(load_settings("needs").database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            return usecases.seed_survey(session, year)
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
