"""GET /metrics on every web app (issue 15): the metric names, route templates never paths, bounded labels, and the
database gauges read at scrape time. Real apps on their own databases (both backends); no broker."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.config import SERVICES
from shared.db import transaction, utcnow
from shared.metrics import DatabaseCollector, registry_for

WEB_METRICS = {
    "thoibinh_http_requests", "thoibinh_http_request_duration_seconds", "thoibinh_metrics_database_up",
    "thoibinh_outbox_pending_events", "thoibinh_outbox_failing_events", "thoibinh_outbox_oldest_pending_age_seconds",
}
WITH_JOBS = {"needs", "evaluation"}  # the services whose metadata holds a shared.jobs table


def scrape(client) -> dict:
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    return {f.name: f for f in text_string_to_metric_families(resp.get_data(as_text=True))}, resp.get_data(as_text=True)


def samples(family, **labels) -> list:
    return [s for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items())]


def total(client, **labels) -> float:
    """The request counter's value for these labels (counters are per process: tests compare before and after)."""
    families, _ = scrape(client)
    return sum(s.value for s in samples(families["thoibinh_http_requests"], **labels) if s.name.endswith("_total"))


@pytest.mark.parametrize("service", SERVICES)
def test_every_web_serves_its_metrics_by_route_template(service, make_client):
    client = make_client(service)
    live = dict(service=service, route="/health/live", method="GET", status="200")
    before = total(client, **live)
    assert client.get("/health/live").status_code == 200
    secret = "tok-9f1c2e7d5b"  # a path part that would be a feedback token: never a label
    assert client.get(f"/api/v1/feedback/{secret}").status_code in (401, 404)
    families, text = scrape(client)
    assert WEB_METRICS <= set(families), WEB_METRICS - set(families)
    assert ("thoibinh_jobs" in families) == (service in WITH_JOBS)
    assert total(client, **live) == before + 1
    assert secret not in text
    routes = {s.labels["route"] for s in families["thoibinh_http_requests"].samples if s.labels["service"] == service}
    assert routes <= {"/health/live", "/metrics", "<unmatched>"} | {r.rule for r in client.application.url_map.iter_rules()}
    assert samples(families["thoibinh_metrics_database_up"], service=service)[0].value == 1


def test_a_request_refused_before_routing_counts_and_odd_methods_share_one_label(make_client):
    client = make_client("courses")
    refused = dict(service="courses", route="/health/live", status="422")
    before = total(client, **refused)
    assert client.open("/health/live", method="BREW").status_code == 405
    assert client.get("/health/live?x=" + "9" * 40).status_code == 422  # refused by shared.web's input check
    families, _ = scrape(client)
    assert total(client, **refused) == before + 1
    methods = {s.labels["method"] for s in families["thoibinh_http_requests"].samples
               if s.labels["service"] == "courses"}
    assert "BREW" not in methods and "other" in methods


def test_outbox_gauges_are_read_from_the_database_when_scraped(backend, make_client):
    client = make_client("needs")
    context = client.application.extensions["service"]
    families, _ = scrape(client)
    assert samples(families["thoibinh_outbox_pending_events"], service="needs")[0].value == 0
    assert samples(families["thoibinh_outbox_oldest_pending_age_seconds"], service="needs")[0].value == 0
    payload = {"civil_servant_id": "cs-1", "code": "C1", "unit_code": "U1", "commune_code": "X1",
               "left_on": date(2026, 1, 5), "reason": "retired"}
    with transaction(context.session_factory) as session:
        context.outbox.emit(session, "needs.civil_servant_left", payload)
        context.outbox.emit(session, "needs.civil_servant_left", payload)
    later = utcnow() + timedelta(minutes=5)
    collector = DatabaseCollector("needs", context.session_factory, context.outbox, now=lambda: later)
    got = {f.name: f for f in registry_for(collector).collect()}
    assert samples(got["thoibinh_outbox_pending_events"], service="needs")[0].value == 2
    assert 299 <= samples(got["thoibinh_outbox_oldest_pending_age_seconds"], service="needs")[0].value <= 301
    jobs = {s.labels["status"]: s.value for s in got["thoibinh_jobs"].samples}
    assert jobs == {"pending": 0, "running": 0, "failed": 0}


def test_a_database_that_is_away_leaves_the_scrape_answering(make_client, tmp_path):
    client = make_client("funding")
    context = client.application.extensions["service"]
    import sqlalchemy as sa
    from sqlalchemy.orm import sessionmaker
    broken = sessionmaker(sa.create_engine(f"sqlite:///{tmp_path}/missing/dir/x.db"))
    got = {f.name: f for f in registry_for(DatabaseCollector("funding", broken, context.outbox)).collect()}
    assert samples(got["thoibinh_metrics_database_up"], service="funding")[0].value == 0
    assert "thoibinh_outbox_pending_events" not in got
    assert "thoibinh_http_requests" in got  # the process's own counters still come out


def test_the_backlog_count_is_bounded_and_the_oldest_is_the_first_pending(backend, make_client):
    client = make_client("needs")
    context = client.application.extensions["service"]
    payload = {"civil_servant_id": "cs-1", "code": "C1", "unit_code": "U1", "commune_code": "X1",
               "left_on": date(2026, 1, 5), "reason": "retired"}
    with transaction(context.session_factory) as session:
        first = context.outbox.emit(session, "needs.civil_servant_left", payload)
        for _ in range(4):
            context.outbox.emit(session, "needs.civil_servant_left", payload)
    with context.session_factory() as session:
        capped = context.outbox.backlog(session, cap=3)
        full = context.outbox.backlog(session)
    assert (capped["pending"], full["pending"]) == (3, 5)
    assert full["oldest_created_at"] == first.occurred_at
