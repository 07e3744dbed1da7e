"""HTTP plumbing shared by the four services: app factory base, JSON errors, bearer tokens, health, request logs."""
from __future__ import annotations

import hmac
import json
import logging
import re
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import wraps
from typing import Callable, Iterator

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
import flask_smorest
from flask_smorest import Api
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException, NotFound as NotFoundHTTP, Unauthorized
from webargs.flaskparser import FlaskParser
from werkzeug.http import HTTP_STATUS_CODES

from shared.auth import requires, unit_scope  # noqa: F401 - for the entrypoints, re-exported beside ctx
from shared.config import Settings
from shared.db import make_engine, make_session_factory
from shared.errors import Conflict, DomainError, Forbidden, Gone, Invalid, NotFound, Throttled
from shared.localtime import local_today, utcnow
from shared.logs import configure_logging, reset_correlation_id, set_correlation_id
from shared.outbox import Outbox
from marshmallow import Schema, fields

from shared import tabular
from shared.tabular import Column, TableError

log = logging.getLogger("http")
_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@dataclass
class ServiceContext:
    """What a running service holds: its settings, database and outbox (built in create_app, never at import)."""

    settings: Settings
    engine: sa.Engine
    session_factory: sessionmaker[Session]
    outbox: Outbox
    inbox: sa.Table
    clock: Callable[[], datetime] = utcnow  # now, UTC-aware: views pass now=ctx().clock() to the use cases

    def today(self) -> date:
        """The local (Asia/Ho_Chi_Minh) day of the app's clock."""
        return local_today(self.clock())

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Run one transaction on the request's session; the session stays open until the response is
        serialised (teardown closes it), so lazy attributes still load after the commit."""
        session = g.get("db_session")
        if session is None:
            session = g.db_session = self.session_factory()
        with session.begin():
            yield session


class IsoJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with dates and times as ISO 8601 (Flask's default prints them as HTTP dates), so a view that
    returns plain dicts agrees with the marshmallow-serialised ones."""

    @staticmethod
    def default(o):
        if isinstance(o, (date, datetime)):
            return o.isoformat()
        return DefaultJSONProvider.default(o)


class _SchemaOnceParser(FlaskParser):
    """webargs' Flask parser, with each argument schema given as a class instantiated once per process instead of
    once per request (issue 16: marshmallow copies every declared field, and builds each nested schema again, for
    each new instance). A schema instance holds no per-request state: `load` takes the data and `unknown` as
    arguments, as flask-smorest's response schemas, built once, already do."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._schemas: dict[type, Schema] = {}

    def _get_schema(self, argmap, req) -> Schema:
        if isinstance(argmap, type) and issubclass(argmap, Schema):
            schema = self._schemas.get(argmap)
            if schema is None:
                schema = self._schemas.setdefault(argmap, argmap())
            return schema
        return super()._get_schema(argmap, req)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint whose `@blp.arguments(SomeSchema)` builds SomeSchema once, not per request: the
    services' and shared/'s API blueprints are made with this one."""

    ARGUMENTS_PARSER = _SchemaOnceParser()


def ctx() -> ServiceContext:
    """Return the current app's service context."""
    return current_app.extensions["service"]


# User-facing messages are Vietnamese; werkzeug's default descriptions are English.
MESSAGES_VI = {
    400: "Yêu cầu không hợp lệ.",
    403: "Không có quyền thực hiện thao tác này.",
    404: "Không tìm thấy địa chỉ hoặc đối tượng được yêu cầu.",
    405: "Phương thức không được hỗ trợ cho địa chỉ này.",
    406: "Định dạng phản hồi được yêu cầu không được hỗ trợ.",
    413: "Dữ liệu gửi lên quá lớn.",
    415: "Kiểu dữ liệu gửi lên không được hỗ trợ (hãy gửi JSON).",
    422: "Dữ liệu không hợp lệ.",
    429: "Quá nhiều yêu cầu, vui lòng thử lại sau.",
}


class ProblemSchema(Schema):
    line = fields.Integer()
    field = fields.String(allow_none=True)
    message = fields.String()


class ErrorSchema(Schema):
    """The one error shape (documentation only: errors are built by the handlers below)."""
    code = fields.Integer(metadata={"description": "HTTP status code"})
    status = fields.String(metadata={"description": "HTTP status name"})
    message = fields.String(metadata={"description": "what went wrong, in Vietnamese"})
    errors = fields.Dict(metadata={"description": "location → field → messages"})
    problems = fields.List(fields.Nested(ProblemSchema), metadata={"description": "an upload's refused cells "
                                                                                  "(first 100)"})
    problem_count = fields.Integer(metadata={"description": "every refused cell of the upload"})
    problems_truncated = fields.Boolean()


class JsonApi(Api):
    """flask-smorest Api whose every error has one shape: {code, status, message, errors{location{field:[…]}}}."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):
        described = error.description != type(error).description  # a message given when raising, not the default
        message = error.description if described else MESSAGES_VI.get(error.code, error.description)
        payload = {"code": error.code, "status": error.name, "message": message}
        data = getattr(error, "data", None) or {}
        if "message" in data:
            payload["message"] = data["message"]
        if "messages" in data:
            payload["errors"] = data["messages"]
            if "message" not in data:
                payload["message"] = "Dữ liệu không hợp lệ: " + ", ".join(_field_paths(data["messages"]))
        headers = data.get("headers", {})
        return jsonify(payload), error.code, headers


def _field_paths(messages, prefix="") -> list[str]:
    out = []
    for key, value in (messages or {}).items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.extend(_field_paths(value, path))
        else:
            out.append(path)
    return out


# The one place where an error kind becomes an HTTP status.
STATUS_OF = {Invalid: 422, Conflict: 409, NotFound: 404, Gone: 410, Throttled: 429, Forbidden: 403}


def status_of(error: DomainError) -> int:
    """Return the HTTP status of an error kind (a bare DomainError counts as a conflict)."""
    return next((code for kind, code in STATUS_OF.items() if isinstance(error, kind)), 409)


def _domain_error(error: DomainError):
    code = status_of(error)
    errors = {"json": {error.field: [error.message]}} if error.field else {}
    headers = {"Retry-After": str(error.retry_after)} if getattr(error, "retry_after", None) else {}
    return jsonify({"code": code, "status": HTTP_STATUS_CODES.get(code, "Error"), "message": error.message,
                    "errors": errors}), code, headers


def _table_error(error: TableError):
    """422 for an uploaded file refused as a whole, in the one error shape: errors.files.file lists every bad cell
    as "Dòng N, «field»: message", and `problems` repeats them as {line, field, message} for programs."""
    total = len(error.problems)
    listed = [dict(p, message=tabular.escape_text(str(p["message"]))[:300]) for p in error.problems[:MAX_PROBLEMS]]
    shown = "; ".join(f"dòng {p['line']}, «{p['field']}»: {p['message']}" for p in listed[:3])
    more = f" (và {total - 3} lỗi khác)" if total > 3 else ""
    return jsonify({"code": 422, "status": "Unprocessable Entity", "message": f"{error.message} {shown}{more}".strip(),
                    "errors": {"files": {"file": [f"Dòng {p['line']}, «{p['field']}»: {p['message']}"
                                                  for p in listed]}},
                    "problems": listed, "problem_count": total,
                    "problems_truncated": total > len(listed)}), 422


# A dependency that is away answers 503 naming it, not 500: the request may succeed once it is back.
UNAVAILABLE_VI = {
    "database": "Cơ sở dữ liệu tạm thời không truy cập được; vui lòng thử lại sau.",
    "broker": "Hệ thống hàng đợi thông điệp tạm thời không truy cập được; vui lòng thử lại sau.",
    "identity_provider": "Máy chủ xác thực tạm thời không truy cập được; vui lòng thử lại sau.",
}
RETRY_AFTER_S = 5


def _database_errors() -> tuple[type[BaseException], ...]:
    """Errors meaning the database cannot serve now: no connection, a dropped one, a pool exhausted, a lock that
    did not come (SQLAlchemy wraps the driver's; COPY through the raw psycopg connection raises psycopg's own)."""
    kinds: list[type[BaseException]] = [sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError]
    try:
        import psycopg
        kinds += [psycopg.OperationalError, psycopg.InterfaceError]
    except ImportError:  # pragma: no cover - SQLite-only installs
        pass
    return tuple(kinds)


def _broker_errors() -> tuple[type[BaseException], ...]:
    kinds: list[type[BaseException]] = []
    try:
        import pika.exceptions
        kinds.append(pika.exceptions.AMQPConnectionError)
    except ImportError:  # pragma: no cover
        pass
    try:
        import kombu.exceptions
        kinds.append(kombu.exceptions.OperationalError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(kinds)


_OUR_PACKAGES = {"shared", "bus", "needs", "courses", "evaluation", "funding"}


def _where(error: BaseException) -> str | None:
    """The innermost frame of our own code the error passed through (file:line function): where, without what."""
    import traceback
    from pathlib import PurePath
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if "site-packages" not in f.filename and PurePath(f.filename).parent.name in _OUR_PACKAGES]
    if not frames:
        return None
    f = frames[-1]
    return f"{'/'.join(PurePath(f.filename).parts[-2:])}:{f.lineno} {f.name}"


def _dependency_unavailable(dependency: str, error: BaseException):
    """503 in the one error shape, naming the dependency. Only the error's type is logged and nothing of it is
    answered: a driver's message can quote statement values (names, birth years, tokens)."""
    orig = getattr(error, "orig", None)  # SQLAlchemy's wrapper → the driver's own class
    log.error("dependency unavailable", extra={
        "dependency": dependency, "error_type": type(error).__name__,
        "driver_error": type(orig).__name__ if orig is not None else None, "where": _where(error),
        "route": request.url_rule.rule if request.url_rule else "<unmatched>", "method": request.method})
    response = jsonify({"code": 503, "status": "Service Unavailable", "message": UNAVAILABLE_VI[dependency],
                        "dependency": dependency, "errors": {"dependencies": {dependency: ["unavailable"]}}})
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response, 503


def _database_unavailable(error: Exception):
    return _dependency_unavailable("database", error)


def _broker_unavailable(error: Exception):
    return _dependency_unavailable("broker", error)


def _identity_provider_unavailable(error: Exception):
    return _dependency_unavailable("identity_provider", error)


def _frames(error: BaseException) -> list[str]:
    """The traceback's frames as "file:line function" (no source line, no locals, no message)."""
    import traceback
    from pathlib import PurePath
    return [f"{'/'.join(PurePath(f.filename).parts[-2:])}:{f.lineno} {f.name}"
            for f in traceback.extract_tb(error.__traceback__)][-12:]


def _internal_error(error: Exception):
    """500: the log says which exception and where, never its text (a message can quote a stored name)."""
    log.error("unhandled error", extra={
        "error_type": f"{type(error).__module__}.{type(error).__qualname__}", "where": _where(error),
        "frames": _frames(error), "route": request.url_rule.rule if request.url_rule else "<unmatched>",
        "method": request.method})
    return jsonify({"code": 500, "status": "Internal Server Error", "message": "Lỗi hệ thống, vui lòng thử lại sau."}), 500


# --- every request's input, checked in one place (before any schema or view sees it) -----------------------------
#
# Text (path parameters, query, form, JSON): NFC-normalised, control characters refused (C0 but tab/newline/CR in
# bodies, DEL, C1, lone surrogates; in a path parameter: 404 naming it under `path`);
# JSON: bounded depth, integers bounded; query strings: no digit runs past int64; sizes: per route class.
# The cleaned values replace the request's own (args, form, the JSON body), so webargs/flask-smorest schemas and
# plain views read the same checked text.

MAX_JSON_DEPTH = 32
MAX_INT = 2**63 - 1  # what SQLite and PostgreSQL bigint hold; larger input is refused, never an OverflowError
MAX_PROBLEMS = 100   # problems listed in one 422 (the total is always given)
# An integer in a path is a row's Integer key: what PostgreSQL's integer holds (2^31 was a 500 there, "integer out
# of range"; SQLite holds more). A larger one names nothing: 404.
MAX_PATH_INT = 2**31 - 1
_HUGE_DIGITS = re.compile(r"[+-]?0*\d{20,}")


class _HugeInt:
    """A JSON integer too long to be a value of ours; refused by the walk, which knows the field."""


def _bounded_int(text: str):
    if len(text.lstrip("-")) > 19:
        return _HugeInt()
    return int(text)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


class _TooDeep(Exception):
    pass


def _clean_json(value, depth: int, problems: dict, key) -> object:
    """Return `value` with every string NFC-normalised; record refused leaves in `problems` (nested like
    marshmallow's messages: {"lines": {"0": {"name": [...]}}})."""
    if depth > MAX_JSON_DEPTH:
        raise _TooDeep
    if isinstance(value, str):
        try:
            return tabular.clean_text(value, multiline=True)
        except ValueError as exc:
            problems[key] = [str(exc)]
            return value
    if isinstance(value, _HugeInt) or (isinstance(value, int) and not isinstance(value, bool)
                                       and not -MAX_INT - 1 <= value <= MAX_INT):
        problems[key] = [f"Số quá lớn (tối đa {MAX_INT})."]
        return None
    if isinstance(value, dict):
        inner: dict = {}
        out = {}
        for k, v in value.items():
            try:
                k = tabular.clean_text(k, multiline=False)
            except ValueError as exc:
                inner[tabular.escape_text(k)] = [str(exc)]
                continue
            out[k] = _clean_json(v, depth + 1, inner, k)
        if inner:
            problems[key] = inner
        return out
    if isinstance(value, list):
        inner = {}
        out = [_clean_json(v, depth + 1, inner, i) for i, v in enumerate(value)]
        if inner:
            problems[key] = inner
        return out
    return value


def _clean_multidict(data, location: str, *, multiline: bool, problems: dict):
    from werkzeug.datastructures import ImmutableMultiDict
    items, bad = [], {}
    for name, value in data.items(multi=True):
        if name is None:  # a multipart part without a readable name (none given, or a CR/LF in it): werkzeug's None
            bad["_schema"] = ["Có phần dữ liệu không có tên trường hợp lệ."]
            continue
        try:
            name = tabular.clean_text(name, multiline=False)
            value = tabular.clean_text(value, multiline=multiline)
            if location == "query" and _HUGE_DIGITS.fullmatch(value.strip()):
                raise ValueError(f"Số quá lớn (tối đa {MAX_INT}).")
        except ValueError as exc:
            bad[tabular.escape_text(name)] = [str(exc)]
            continue
        items.append((name, value))
    if bad:
        problems[location] = bad
    return ImmutableMultiDict(items)


def _refuse(problems: dict):
    from flask_smorest import abort
    abort(422, messages=_cap_problems(problems))


def _cap_problems(messages: dict) -> dict:
    """At most MAX_PROBLEMS leaves, so a 422 never grows with the input."""
    count = 0

    def cut(node):
        nonlocal count
        out = {}
        for key, value in node.items():
            if count >= MAX_PROBLEMS:
                break
            if isinstance(value, dict):
                out[key] = cut(value)
            else:
                count += 1
                out[key] = value
        return out
    return cut(messages)


def request_size_limit() -> int:
    """The body-size cap of this request's route class: uploads (multipart) larger, JSON and forms small."""
    limits = ctx().settings.request_limits  # read from the environment with the settings (shared/config.py)
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        return limits.upload_bytes
    if mimetype == "application/x-www-form-urlencoded":
        return limits.form_bytes
    return limits.json_bytes


def clean_request_input() -> None:
    """Check and normalise every text input of the request, or answer 413/422 before any view runs."""
    request.max_content_length = request_size_limit()
    problems: dict = {}
    for name, value in list((request.view_args or {}).items()):
        if isinstance(value, int) and not -MAX_PATH_INT - 1 <= value <= MAX_PATH_INT:
            raise NotFoundHTTP()
        if isinstance(value, str):  # a NUL in an id reached PostgreSQL (it refuses NUL in text): a 500
            try:
                request.view_args[name] = tabular.clean_text(value, multiline=False)
            except ValueError as exc:
                problems.setdefault("path", {})[name] = [str(exc)]
                del request.view_args[name]  # reaches no code, not even a page's error handler
    if problems:  # a path with a control character names nothing: 404, naming the parameter
        from flask_smorest import abort
        abort(404, message="Không tìm thấy: đường dẫn có ký tự không hợp lệ («" + "», «".join(problems["path"])
              + "»).", messages=problems)
    if request.args:
        request.args = _clean_multidict(request.args, "query", multiline=False, problems=problems)
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        request.form = _clean_multidict(request.form, "form", multiline=True, problems=problems)
    elif request.is_json:
        raw = request.get_data(cache=True)
        if raw.strip():
            try:
                body = json.loads(raw, parse_int=_bounded_int, parse_constant=_refuse_constant)
            except RecursionError:
                body, problems["json"] = None, {"_schema": [f"JSON lồng quá sâu (tối đa {MAX_JSON_DEPTH} mức)."]}
            except ValueError:
                # Not JSON (or not UTF-8): left to the route. One that takes a body answers webargs' 400 naming
                # `json`; one that takes none ignores it, as it ignores any body.
                pass
            else:
                found: dict = {}
                try:
                    body = _clean_json(body, 0, found, "_root")
                except _TooDeep:
                    found = {"_root": {"_schema": [f"JSON lồng quá sâu (tối đa {MAX_JSON_DEPTH} mức)."]}}
                if found:
                    root = found["_root"]
                    problems["json"] = root if isinstance(root, dict) else {"_schema": root}
                else:
                    request._cached_json = (body, body)
                    request._cached_data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    if problems:
        _refuse(problems)


# --- what every response carries ---------------------------------------------------------------------------------

# The two server-rendered pages (feedback, check-in) use an inline <style>; /docs needs Swagger UI's inline start
# script. No page loads anything from elsewhere, and none may be framed.
CSP_PAGES = ("default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
             "base-uri 'none'; frame-ancestors 'none'")
CSP_DOCS = ("default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'")
DOCS_ASSETS = "/docs/assets/"


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    docs = request.path.startswith("/docs")
    headers.setdefault("Content-Security-Policy", CSP_DOCS if docs else CSP_PAGES)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    if not request.path.startswith(DOCS_ASSETS):
        # Pages carry trainee tokens and answers carry personal data: nothing is kept by a browser or a proxy.
        headers["Cache-Control"] = "no-store"
    return response


def swagger_assets_blueprint():
    """Swagger UI's files from the pinned flask-swagger-ui package (never a CDN: offices may be offline)."""
    import os
    from flask import Blueprint as FlaskBlueprint
    import flask_swagger_ui
    folder = os.path.join(os.path.dirname(flask_swagger_ui.__file__), "dist")
    return FlaskBlueprint("swagger_assets", __name__, static_folder=folder, static_url_path=DOCS_ASSETS.rstrip("/"))


# --- files in and out -------------------------------------------------------------------------------------------

class UploadSchema(Schema):
    """A CSV/XLSX upload as multipart/form-data: `@blp.arguments(UploadSchema, location="files")` puts it in the
    OpenAPI spec; the view hands it to `read_upload`."""

    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary",
                                               "description": ".csv (UTF-8) or .xlsx"})


def read_upload(files: dict | None = None, field: str = "file", *, required: bool = True) -> tuple[bytes, str]:
    """Return (bytes, filename) of the uploaded file, or refuse with 422 naming the field. With required=False a
    missing file is (b"", "") and the use case decides (after, say, a 404 for the object the file is for)."""
    upload = (files or request.files).get(field)
    if upload is None or not getattr(upload, "filename", ""):
        if not required:
            return b"", ""
        raise Invalid("Hãy gửi tệp .csv hoặc .xlsx trong trường «file» (multipart/form-data).", field=field)
    return upload.read(), upload.filename


def download(rows, columns: list[Column], fmt: str, filename: str, **xlsx_options) -> Response:
    """Return rows as a CSV or XLSX attachment (`xlsx_options`: title, heading, footer… of tabular.to_xlsx)."""
    if fmt == "xlsx":
        response = Response(tabular.to_xlsx(rows, columns, **xlsx_options), mimetype=tabular.XLSX_MIME)
        ext = "xlsx"
    else:
        response = Response(tabular.to_csv(rows, columns), mimetype="text/csv")
        response.headers["Content-Type"] = tabular.CSV_MIME
        ext = "csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}.{ext}"'
    return response


def respond_as(fmt: str, rows, columns: list[Column], filename: str, *, json_body=None, **xlsx_options):
    """Answer one read in the format asked for: `json` (the rows, or `json_body` when given), `csv` or `xlsx`."""
    if fmt in ("csv", "xlsx"):
        return download(rows, columns, fmt, filename, **xlsx_options)
    return jsonify(rows if json_body is None else json_body)


def check_bearer(expected: str) -> None:
    """Abort with 401 unless the request carries `Authorization: Bearer <expected>`."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    try:  # compared as bytes: a non-ASCII token is simply wrong (compare_digest refuses non-ASCII str)
        given = token.strip().encode("ascii")
    except UnicodeEncodeError:
        given = b""
    if scheme.lower() != "bearer" or not given or not hmac.compare_digest(given, expected.encode("utf-8")):
        raise Unauthorized("Thiếu hoặc sai mã truy cập (Authorization: Bearer …).")


def token_required(func):
    """Protect an endpoint for a training officer (the static API token in development mode). New code declares
    its roles with shared.auth.requires(...); this is that with the training officer alone."""
    from shared.auth import TRAINING_OFFICER, requires
    return requires(TRAINING_OFFICER)(func)


class LiveSchema(Schema):
    status = fields.String()


class ReadySchema(Schema):
    status = fields.String(metadata={"description": "ok, or unavailable (503)"})
    checks = fields.Dict(keys=fields.String(), values=fields.String(),
                         metadata={"description": "database / broker → ok or error: <type>"})


def health_blueprint() -> Blueprint:
    blp = Blueprint("health", __name__, url_prefix="/health", description="Liveness and readiness probes")

    @blp.route("/live")
    @blp.alt_response(200, schema=LiveSchema, success=True, description="the process is up")
    def live():
        """Report that the process is up."""
        return {"status": "ok"}

    @blp.route("/ready")
    @blp.alt_response(200, schema=ReadySchema, success=True, description="database and broker reachable")
    @blp.alt_response(503, schema=ReadySchema, description="a dependency is not reachable")
    def ready():
        """Report whether the database and the broker are reachable."""
        from shared.bus.publisher import connect
        checks = {}
        try:
            with ctx().engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["database"] = f"error: {exc.__class__.__name__}"
        try:
            conn = connect(ctx().settings, heartbeat=0)
            conn.release()
            checks["broker"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["broker"] = f"error: {exc.__class__.__name__}"
        ok = all(v == "ok" for v in checks.values())
        return {"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503

    return blp


def create_service_app(settings: Settings, *, title: str, description: str, outbox: Outbox, inbox: sa.Table,
                       blueprints: list[Blueprint], admin_blueprints: list[Blueprint] = (),
                       engine: sa.Engine | None = None, handlers=(),
                       clock: Callable[[], datetime] | None = None) -> Flask:
    """Build a service's Flask app: database, OpenAPI at /openapi.json (docs at /docs), errors, health, admin,
    and its part of the event contract at /asyncapi.json (`handlers`: the event types of its HANDLERS table).
    `clock` (default: the real UTC now) is what the app's views take as now (tests pass a fixed one)."""
    from shared.admin import admin_blueprint
    from shared.asyncapi import asyncapi_view
    from shared.auth import Authenticator, IdentityProviderUnavailable, security_schemes

    configure_logging(settings.service, settings.log_level)
    app = Flask(settings.service)
    app.json = IsoJSONProvider(app)
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.config.update(
        API_TITLE=title,
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=DOCS_ASSETS,  # pinned Swagger UI from flask-swagger-ui, not a CDN
        API_SPEC_OPTIONS={
            "info": {"description": description},
            "components": {"securitySchemes": security_schemes(settings)},
        },
    )
    engine = engine or make_engine(settings.database_url)
    app.extensions["service"] = ServiceContext(settings, engine, make_session_factory(engine), outbox, inbox,
                                              clock or utcnow)
    app.extensions["auth"] = Authenticator.from_settings(settings)  # AUTH_MODE: oidc, or static (development)
    app.config["MAX_CONTENT_LENGTH"] = settings.request_limits.upload_bytes  # the largest class; each request narrows it
    app.register_blueprint(swagger_assets_blueprint())
    app.add_url_rule("/asyncapi.json", "asyncapi", asyncapi_view(settings, list(handlers)))
    from shared.console import console_blueprint
    app.register_blueprint(console_blueprint())  # /admin/console: the operators' HTML page (its own login)
    api = JsonApi(app)
    api.register_blueprint(health_blueprint())
    api.register_blueprint(admin_blueprint())
    for blp in admin_blueprints:
        api.register_blueprint(blp)
    for blp in blueprints:
        api.register_blueprint(blp, url_prefix=f"/api/v1{blp.url_prefix or ''}")
    from shared import access_log
    api.register_blueprint(access_log.access_log_blueprint(), url_prefix="/api/v1/access-log")  # the inspector's
    access_log.install(app)  # every protected /api/ call recorded (issue 14)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(TableError, _table_error)  # raised by shared.tabular.read_table and use cases
    for kind in _database_errors():
        app.register_error_handler(kind, _database_unavailable)
    for kind in _broker_errors():
        app.register_error_handler(kind, _broker_unavailable)
    app.register_error_handler(IdentityProviderUnavailable, _identity_provider_unavailable)
    app.register_error_handler(Exception, _internal_error)
    from shared import metrics, tracing
    metrics.install_web(app)  # GET /metrics; its timer starts before the hooks below, so refusals count too
    tracing.instrument_app(app, engine, settings.service)  # Flask and SQL spans when OTEL_* ask for traces

    @app.before_request
    def _start():
        g.t0 = time.perf_counter()
        cid = request.headers.get("X-Correlation-ID", "")
        if not _CORRELATION_ID.fullmatch(cid):  # untrusted header: keep it only if short and plain
            cid = str(uuid.uuid4())
        g.correlation_id = cid
        g.cid_token = set_correlation_id(cid)
        clean_request_input()

    @app.after_request
    def _finish(response):
        response.headers["X-Correlation-ID"] = g.get("correlation_id", "")
        add_security_headers(response)
        # The rule template, never the concrete path: paths carry ids and feedback tokens.
        log.info("request", extra={
            "method": request.method, "route": request.url_rule.rule if request.url_rule else "<unmatched>",
            "status": response.status_code, "ms": round((time.perf_counter() - g.get("t0", 0)) * 1000, 1)})
        return response

    @app.teardown_request
    def _reset(_exc):
        session = g.pop("db_session", None)
        if session is not None:
            session.close()
        token = g.pop("cid_token", None)
        if token is not None:
            reset_correlation_id(token)

    return app
