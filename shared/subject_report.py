"""The data-subject report (issue 14): everything the four services hold about one civil servant, for an inspector.

Each service answers its own part at `GET /api/v1/data-subjects/<civil_servant_id>`: the rows of every table of its
own that names the person (its `usecases/subject.py` lists them as `Section`s), the access-log entries about them
included, as JSON, CSV or XLSX (`?format=`). needs also assembles the whole report at
`GET /api/v1/data-subjects/<civil_servant_id>/report`: its own part from its database, the three others' over HTTP
with needs' own credentials (`PeerClient`: in AUTH_MODE=oidc a client-credentials token of the provider, cached until
it expires; in static mode the static API token), each peer with a time-out. A peer that does not answer — down,
too slow, refusing needs' token, answering anything but its part — makes the whole report a 503 naming that peer:
a report missing a service is never presented as complete.

Only the inspector role may ask (declared in each operation's OpenAPI security); every read is written to the
access log of the service read (who, whose: the civil_servant_id of the path, what: the route), the peers' entries
carrying needs' service account and the inspector's correlation id. Columns that are credentials (trainee link
tokens, links carrying them, hashes, secrets) are never reported: the inspector sees that a link exists, not the
link. Spreadsheet cells go through shared.tabular (formula-looking text neutralised).

Legal basis: Law 91/2025/QH15 on personal data protection and Decree 356/2025/NĐ-CP (in force 1 January 2026).

The collecting half (`Section`, `collect`) imports SQLAlchemy only, so use cases may call it; the web half
(blueprints, the peer client) imports Flask inside its functions.
"""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

log = logging.getLogger("subject_report")

PATH = "/data-subjects"
SECRET_MARKS = ("token", "hash", "secret", "link", "password")  # a column named with one of these is not reported
MAX_ROWS_PER_SECTION = 10_000  # one person's rows; more would be a defect worth seeing, not a report to send
PEER_ANSWER_BYTES = 20 << 20   # the most a peer's part may weigh


@dataclass(frozen=True)
class Section:
    """One table of a service naming the person: rows where `column` equals their id; `omit` more columns."""

    name: str
    table: sa.Table
    column: str = "civil_servant_id"
    omit: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()


def _reported(section: Section) -> list[sa.Column]:
    return [c for c in section.table.columns
            if c.name not in section.omit and not any(mark in c.name.lower() for mark in SECRET_MARKS)]


def _plain(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def collect(session: Session, civil_servant_id: str, sections: tuple[Section, ...]) -> dict[str, list[dict]]:
    """Every section's rows about the person ({section name: [row…]}, empty lists kept: nothing held there)."""
    out: dict[str, list[dict]] = {}
    for section in sections:
        columns = _reported(section)
        order = [section.table.c[name] for name in section.order_by] or list(section.table.primary_key.columns)
        stmt = (sa.select(*columns).where(section.table.c[section.column] == civil_servant_id)
                .order_by(*order).limit(MAX_ROWS_PER_SECTION))
        out[section.name] = [{k: _plain(v) for k, v in row._mapping.items()} for row in session.execute(stmt)]
    return out


def part(service: str, civil_servant_id: str, sections: dict[str, list[dict]], now: datetime) -> dict:
    """One service's part of the report."""
    return {"service": service, "civil_servant_id": civil_servant_id, "generated_at": now.isoformat(),
            "sections": sections, "record_count": sum(len(rows) for rows in sections.values())}


# --- one table for CSV and XLSX: a line per field of each record ----------------------------------------------

def _columns():
    from shared.tabular import Column
    return [Column("service", "Dịch vụ", width=12), Column("section", "Mục", width=24),
            Column("record", "Bản ghi", width=8), Column("field", "Trường", width=26),
            Column("value", "Giá trị", width=60)]


def _cell(value):
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return value


def flatten(parts: list[dict]) -> list[dict]:
    """The parts as rows (service, section, record number, field, value); a section with no rows is one line."""
    rows = []
    for p in parts:
        for name, records in p["sections"].items():
            if not records:
                rows.append({"service": p["service"], "section": name, "record": None, "field": None,
                             "value": "(không có dữ liệu)"})
            for n, record in enumerate(records, start=1):
                rows.extend({"service": p["service"], "section": name, "record": n, "field": key,
                             "value": _cell(value)} for key, value in record.items())
    return rows


def _respond(fmt: str, parts: list[dict], body: dict, civil_servant_id: str):
    from shared.web import respond_as
    heading = f"Dữ liệu cá nhân lưu giữ về công chức {civil_servant_id}"
    return respond_as(fmt, flatten(parts), _columns(), f"du-lieu-ca-nhan-{civil_servant_id[:36]}", json_body=body,
                      title="Dữ liệu cá nhân", heading=heading,
                      footer=["Căn cứ: Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15; Nghị định 356/2025/NĐ-CP."])


def _format_args():
    from marshmallow import Schema, fields, validate
    return Schema.from_dict({"format": fields.String(load_default="json",
                                                     validate=validate.OneOf(("json", "csv", "xlsx")))},
                            name="DataSubjectFormatArgs")


# --- the web half ------------------------------------------------------------------------------------------------

def part_blueprint(read_part):
    """GET /data-subjects/<civil_servant_id>: this service's part (`read_part(session, civil_servant_id)` returns
    {section: rows}), for the inspector. Every service's app mounts it."""
    from shared.web import Blueprint

    from shared import apidoc
    from shared.auth import INSPECTOR, requires
    from shared.localtime import utcnow
    from shared.web import ctx

    blp = Blueprint("data_subject", __name__, url_prefix=PATH, description="Dữ liệu cá nhân của một công chức")

    @blp.route("/<civil_servant_id>")
    @requires(INSPECTOR)
    @blp.arguments(_format_args(), location="query")
    @apidoc.response(blp, "json", "csv", "xlsx")
    def subject_part(args, civil_servant_id):
        """What this service holds about one civil servant (inspector): JSON, CSV or XLSX."""
        service = ctx()
        with service.transaction() as session:
            found = part(service.settings.service, civil_servant_id, read_part(session, civil_servant_id), utcnow())
        return _respond(args["format"], [found], found, civil_servant_id)

    return blp


class PeerUnavailable(Exception):
    """A peer did not give its part (down, too slow, refused needs' credentials, a wrong answer): the report is
    not made. Carries the peer's name and why (an HTTP status or an exception's type — never a body)."""

    def __init__(self, peer: str, reason: str):
        super().__init__(f"{peer}: {reason}")
        self.peer, self.reason = peer, reason
        self.others: list[str] = []  # the peers that failed as well


class PeerClient:
    """Asks the peers for their parts with this service's own credentials (`bearer()`: a callable giving the
    bearer token, e.g. shared.auth.ClientCredentials.bearer)."""

    def __init__(self, peers: dict[str, str], bearer, timeout: float = 10.0):
        self.peers = {name: url.rstrip("/") for name, url in peers.items()}
        self.bearer = bearer
        self.timeout = timeout

    def fetch(self, peer: str, civil_servant_id: str, correlation_id: str, token: str) -> dict:
        url = f"{self.peers[peer]}/api/v1{PATH}/{urllib.parse.quote(civil_servant_id, safe='')}?format=json"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}",
                                                       "Accept": "application/json",
                                                       "X-Correlation-ID": correlation_id})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310 - configured URLs
                body = json.loads(answer.read(PEER_ANSWER_BYTES + 1)[:PEER_ANSWER_BYTES])
        except urllib.error.HTTPError as exc:
            raise PeerUnavailable(peer, f"HTTP {exc.code}") from None
        except (OSError, ValueError) as exc:  # refused, reset, timed out, not JSON
            raise PeerUnavailable(peer, type(exc).__name__) from None
        if not (isinstance(body, dict) and body.get("service") == peer and body.get("civil_servant_id")
                == civil_servant_id and isinstance(body.get("sections"), dict)):
            raise PeerUnavailable(peer, "not a data-subject part")
        return body

    def fetch_all(self, civil_servant_id: str, correlation_id: str) -> dict[str, dict]:
        """Every peer's part, asked side by side with one token (the provider unreachable or refusing needs:
        IdentityProviderUnavailable, before any peer is asked); the first peer that fails (in the peers' order) is
        raised, the others that failed named on it."""
        token = self.bearer()
        with ThreadPoolExecutor(max_workers=max(1, len(self.peers))) as pool:
            futures = {peer: pool.submit(self.fetch, peer, civil_servant_id, correlation_id, token)
                       for peer in self.peers}
        answers, failed = {}, []
        for peer, future in futures.items():
            try:
                answers[peer] = future.result()
            except PeerUnavailable as exc:
                failed.append(exc)
        if failed:
            failed[0].others = [exc.peer for exc in failed[1:]]
            raise failed[0]
        return answers


def _peer_unavailable(exc: PeerUnavailable, others: list[str]):
    from flask import jsonify
    log.error("data-subject report not made", extra={"peer": exc.peer, "reason": exc.reason,
                                                     "also_unavailable": others})
    names = [exc.peer, *others]
    response = jsonify({
        "code": 503, "status": "Service Unavailable", "dependency": exc.peer,
        "message": f"Dịch vụ {', '.join(names)} không trả lời; báo cáo dữ liệu cá nhân không được lập vì sẽ thiếu "
                   "phần dữ liệu của dịch vụ đó. Vui lòng thử lại sau.",
        "errors": {"dependencies": {name: ["unavailable"] for name in names}}})
    response.headers["Retry-After"] = "5"
    return response, 503


def report_blueprint(read_part, peers: PeerClient, person_exists):
    """GET /data-subjects/<civil_servant_id>/report: the whole report (needs mounts it). `person_exists(session,
    id)` says whether the registry knows the person (404 otherwise, before any peer is asked)."""
    from flask import g
    from shared.web import Blueprint

    from shared import apidoc
    from shared.auth import INSPECTOR, requires
    from shared.errors import NotFound
    from shared.localtime import utcnow
    from shared.web import ctx

    blp = Blueprint("data_subject_report", __name__, url_prefix=PATH,
                    description="Báo cáo dữ liệu cá nhân của một công chức trên cả bốn dịch vụ")

    @blp.route("/<civil_servant_id>/report")
    @requires(INSPECTOR)
    @blp.arguments(_format_args(), location="query")
    @apidoc.response(blp, "json", "csv", "xlsx")
    def subject_report(args, civil_servant_id):
        """Everything the four services hold about one civil servant (inspector): JSON, CSV or XLSX; 503 naming
        the service that did not answer (never a partial report)."""
        service = ctx()
        with service.transaction() as session:
            if not person_exists(session, civil_servant_id):
                raise NotFound("Không tìm thấy công chức trong sổ đăng ký.", field="civil_servant_id")
            own = part(service.settings.service, civil_servant_id, read_part(session, civil_servant_id), utcnow())
        try:
            answers = peers.fetch_all(civil_servant_id, g.get("correlation_id", ""))
        except PeerUnavailable as exc:
            return _peer_unavailable(exc, exc.others)
        parts = [own, *(answers[p] for p in peers.peers)]
        body = {"civil_servant_id": civil_servant_id, "generated_at": utcnow().isoformat(), "complete": True,
                "services": {p["service"]: p for p in parts},
                "record_count": sum(p.get("record_count", 0) for p in parts)}
        return _respond(args["format"], parts, body, civil_servant_id)

    return blp
