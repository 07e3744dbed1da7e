"""deploy/prometheus and deploy/grafana (issue 15): promtool validates the config and the rules and runs the rules'
own unit tests; Prometheus scrapes every Procfile process; every metric the rules and the dashboard query is one the
code exports (a renamed metric would leave a silent panel or an alert that never fires)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from shared import metrics
from shared.config import DEFAULT_PORTS, PROJECT_ROOT, SERVICES
from tools.stack import procfile_commands

PROMETHEUS = PROJECT_ROOT / "deploy" / "prometheus"
GRAFANA = PROJECT_ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "thoibinh-cycle.json"
# The gauges of shared.metrics.DatabaseCollector (made at scrape time, so not in the default registry).
SCRAPE_TIME = {"thoibinh_metrics_database_up", "thoibinh_outbox_pending_events", "thoibinh_outbox_failing_events",
               "thoibinh_outbox_oldest_pending_age_seconds", "thoibinh_jobs", "thoibinh_dead_letter_messages"}


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian package `prometheus`, installed by `make tools`)")
    return path


def _promtool_run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([_promtool(), *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60)


def exported_series() -> set[str]:
    """Every series name the code can export: counters with _total, histograms with _bucket/_sum/_count."""
    names = set(SCRAPE_TIME)
    for metric in (getattr(metrics, n) for n in dir(metrics)):
        if hasattr(metric, "_type") and getattr(metric, "_name", "").startswith("thoibinh_"):
            base = metric._name
            if metric._type == "counter":
                names.add(f"{base}_total")
            elif metric._type == "histogram":
                names |= {f"{base}_bucket", f"{base}_sum", f"{base}_count"}
            else:
                names.add(base)
    return names


def queried(text: str) -> set[str]:
    return set(re.findall(r"\bthoibinh_[a-z_]+\b", text))


def test_promtool_accepts_the_config_and_the_rules():
    config = _promtool_run("check", "config", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr
    assert "1 rule files found" in config.stdout
    rules = _promtool_run("check", "rules", "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr


def test_the_alerts_fire_on_a_growing_outbox_age_and_a_non_empty_dead_letter_queue():
    result = _promtool_run("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"][0]["alert_rule_test"]
    assert {t["alertname"] for t in tests} >= {"OutboxOldestPendingGrowing", "DeadLetterQueueNotEmpty"}


def test_a_broken_rule_is_refused_by_promtool(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: sum(\n")
    result = subprocess.run([_promtool(), "check", "rules", str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0


def test_prometheus_scrapes_every_procfile_process():
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for group in job["static_configs"] for t in group["targets"]}
    for service in SERVICES:
        assert f"{service}-web:{DEFAULT_PORTS[service]}" in targets
        assert f"{service}-worker:{9101 + SERVICES.index(service)}" in targets
    processes = {t.split(":")[0] for t in targets} - {"localhost"}
    assert processes == set(procfile_commands()), processes ^ set(procfile_commands())


def test_the_hostnet_config_is_valid_and_scrapes_every_procfile_process_on_loopback():
    config = _promtool_run("check", "config", "prometheus-hostnet.yml")
    assert config.returncode == 0 and "1 rule files found" in config.stdout, config.stdout + config.stderr
    config = yaml.safe_load((PROMETHEUS / "prometheus-hostnet.yml").read_text())
    labelled = {(g["labels"]["service"], g["labels"]["process"]): t for job in config["scrape_configs"]
                for g in job["static_configs"] if "labels" in g for t in g["targets"]}
    # docker-compose.hostnet.yml's ports: webs 8301-8304, workers' metrics 8321-8324 (tests/compose/run.py sets them)
    expected = {**{(s, "web"): f"127.0.0.1:{8301 + i}" for i, s in enumerate(SERVICES)},
                **{(s, "worker"): f"127.0.0.1:{8321 + i}" for i, s in enumerate(SERVICES)}}
    assert labelled == expected
    assert {(s, p.split("-")[1]) for p in procfile_commands() for s in [p.split("-")[0]]} == set(expected)


def test_the_worker_metrics_ports_agree_with_the_compose_file():
    compose = (PROJECT_ROOT / "docker-compose.yml").read_text()
    for i, service in enumerate(SERVICES):
        assert f"{service.upper()}_METRICS_PORT: ${{{service.upper()}_METRICS_PORT:-{9101 + i}}}" in compose


def test_rules_and_dashboard_query_only_metrics_the_code_exports():
    exported = exported_series()
    rules = queried((PROMETHEUS / "alerts.yml").read_text())
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = rules | queried("\n".join(exprs))
    assert used and used <= exported, sorted(used - exported)
    for flow in ("courses.course_completed", "evaluation.feedback_requested", "funding.course_settled",
                 "thoibinh_courses_closed_total"):
        assert any(flow in e for e in exprs), flow
    # The "closed" number and the flow graph count closes themselves, not the inputs that lead to one.
    closed = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])
              if "closed" in p["title"].lower() or t.get("legendFormat") == "closed"]
    assert len(closed) >= 2 and all("thoibinh_courses_closed_total" in e for e in closed), closed


def test_the_dashboard_uses_the_provisioned_data_source_and_shows_outboxes_and_dead_letters():
    source = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = source["datasources"][0]["uid"]
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert {p["datasource"]["uid"] for p in panels} == {uid}
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for word in ("completed", "feedback requested", "settled", "clos", "outbox", "dead-letter"):
        assert word in titles, word
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "thoibinh.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_grafana_in_compose_mounts_the_provisioning_and_its_home_dashboard_exists():
    """Grafana cannot be started where no image registry is reachable (no Debian package either), so its files are
    checked here: each parses, and the compose service mounts them where the provisioning expects them."""
    for path in sorted(GRAFANA.rglob("*")):
        if path.suffix == ".json":
            assert isinstance(json.loads(path.read_text()), dict), path
        elif path.suffix in (".yml", ".yaml"):
            assert isinstance(yaml.safe_load(path.read_text()), dict), path
        else:
            assert path.is_dir(), f"unexpected file {path}"
    grafana = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    mounts = {target: source for source, target, *_ in (v.split(":") for v in grafana["volumes"])}
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    assert mounts["/var/lib/grafana/dashboards"] == "./deploy/grafana/dashboards"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith("/var/lib/grafana/dashboards/")
    assert (GRAFANA / "dashboards" / home.rsplit("/", 1)[1]).is_file(), home
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"  # read-only: no admin account
    assert grafana["environment"]["GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION"] == "true"
