"""The four services keep one shape (../shared/design-review.md §4–§5): the same files, imports that point inward,
the environment read in one place, modules small enough to read. Standard library only."""
from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SERVICES = ("needs", "courses", "evaluation", "funding")
REQUIRED = {"__init__.py", "settings.py", "domain.py", "models.py", "events.py", "usecases", "formats.py",
            "schemas.py", "api.py", "handlers.py", "jobs.py", "admin.py", "seed.py", "app.py", "worker.py",
            "migrations"}
OPTIONAL = {"web.py", "templates"}
WEB_OR_BROKER = ("flask", "flask_smorest", "werkzeug", "kombu", "pika", "shared.web")
PURE_SHARED = ("shared.rules", "shared.localtime", "shared.validity", "shared.errors", "shared.units",
               "shared.notify.quiet")
ENTRYPOINTS = ("api.py", "web.py", "handlers.py", "jobs.py", "admin.py")
MAX_LINES = 400
EXEMPT_FROM_SIZE = {"schemas.py", "models.py"}


def imported(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return names | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}


def service_modules(svc: str):
    for path in sorted((ROOT / "services" / svc).rglob("*.py")):
        if "migrations" not in path.parts:
            yield path


def _under(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("svc", SERVICES)
def test_every_service_has_the_same_files(svc):
    have = {p.name for p in (ROOT / "services" / svc).iterdir() if p.name != "__pycache__"}
    assert REQUIRED <= have, f"missing: {sorted(REQUIRED - have)}"
    assert have <= REQUIRED | OPTIONAL, f"unexpected: {sorted(have - REQUIRED - OPTIONAL)}"


@pytest.mark.parametrize("svc", SERVICES)
def test_the_domain_imports_only_the_standard_library_and_pure_shared_modules(svc):
    bad = {m for m in imported(ROOT / "services" / svc / "domain.py")
           if m.split(".")[0] in ("sqlalchemy", "flask", "flask_smorest", "kombu", "pika", "marshmallow", "werkzeug")
           or (m.startswith("shared") and not _under(m, PURE_SHARED)) or m.startswith("services")}
    assert not bad, bad


@pytest.mark.parametrize("svc", SERVICES)
def test_use_cases_import_no_web_or_broker_framework(svc):
    for path in (ROOT / "services" / svc / "usecases").glob("*.py"):
        bad = {m for m in imported(path) if _under(m, WEB_OR_BROKER)}
        assert not bad, f"{path.relative_to(ROOT)}: {bad}"


@pytest.mark.parametrize("svc", SERVICES)
def test_use_cases_reexport_and_hold_no_code(svc):
    tree = ast.parse((ROOT / "services" / svc / "usecases" / "__init__.py").read_text())
    code = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    assert not code, [n.name for n in code]


@pytest.mark.parametrize("svc", SERVICES)
def test_entrypoints_import_neither_models_nor_sqlalchemy(svc):
    for name in ENTRYPOINTS:
        path = ROOT / "services" / svc / name
        if not path.exists():
            continue
        bad = {m for m in imported(path) if m.split(".")[0] == "sqlalchemy" or m == f"services.{svc}.models"}
        assert not bad, f"{path.relative_to(ROOT)}: {bad}"


@pytest.mark.parametrize("svc", SERVICES)
def test_only_settings_reads_the_environment(svc):
    for path in service_modules(svc):
        if path.name == "settings.py":
            continue
        text = path.read_text()
        assert "os.environ" not in text and "getenv(" not in text, path.relative_to(ROOT)


def test_shared_imports_nothing_from_services():
    for path in (ROOT / "shared").rglob("*.py"):
        bad = {m for m in imported(path) if m.startswith("services")}
        assert not bad, f"{path.relative_to(ROOT)}: {bad}"


@pytest.mark.parametrize("svc", SERVICES)
def test_no_module_is_over_400_lines(svc):
    big = {str(p.relative_to(ROOT)): n for p in service_modules(svc) if p.name not in EXEMPT_FROM_SIZE
           for n in [len(p.read_text().splitlines())] if n > MAX_LINES}
    assert not big, big


def test_use_cases_choose_no_http_status():
    for svc in SERVICES:
        for path in (ROOT / "services" / svc / "usecases").glob("*.py"):
            assert "status=4" not in path.read_text(), path.relative_to(ROOT)


def test_api_blueprints_parse_with_schemas_built_once():
    """flask-smorest's own Blueprint instantiates an `@blp.arguments` schema on every request (issue 16); the API
    blueprints of the services and of shared/ are made with shared.web.Blueprint, which builds each schema once."""
    offenders = []
    for path in [*(ROOT / "services").rglob("*.py"), *(ROOT / "shared").rglob("*.py")]:
        if path == ROOT / "shared" / "web.py" or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "flask_smorest" and \
                    any(a.name == "Blueprint" for a in node.names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders
