"""The operations console of every service: server-rendered HTML under /admin/console, no JavaScript needed.

Who may use it: whoever knows the service's ADMIN_TOKEN (the operator role today). A browser cannot send the
bearer header from a form, so the page has its own login: posting the operator's name and the admin token sets a
session cookie (`console_session`: HttpOnly, SameSite=Strict, Path=/admin/console, Secure behind HTTPS, 8 hours),
signed with a key derived from the admin token (changing the token ends every session). The cookie carries the
operator's name — kept with every operation as who did it — and a random CSRF token that every form repeats in a
hidden field; a POST without a matching token is refused (403), whatever its cookie.

What it shows and does (shared/console_ops.py does the work): outbox backlog and failing rows, inbox counts and
lag, queue depths, jobs, dead letters grouped by event type and reason; replay a group as a tracked operation (the
request records it, the service's worker carries it out, its page reloads itself while it runs);
edit and retry one parked message; follow one correlation id through the four services (the other services'
admin JSON routes over HTTP, their URLs from `<SERVICE>_ADMIN_URL`, default http://127.0.0.1:<SERVICE>_PORT).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import urllib.parse
import urllib.request

from flask import Blueprint, abort, current_app, g, make_response, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from shared import console_ops, console_replay
from shared.config import DEFAULT_PORTS, SERVICES, env
from shared.errors import DomainError
from shared.localtime import vn_timestamp
from shared.web import ctx, status_of

COOKIE = "console_session"
SESSION_SECONDS = 8 * 3600
PATH = "/admin/console"
PEER_TIMEOUT = 5
REFRESH_SECONDS = 2  # a running operation's page reloads itself (meta refresh, no JavaScript)


def _serializer() -> URLSafeTimedSerializer:
    settings = ctx().settings
    key = hmac.new(settings.admin_token.encode("utf-8"), f"console:{settings.service}".encode(), hashlib.sha256)
    return URLSafeTimedSerializer(key.hexdigest(), salt="console-session")


def _session() -> dict | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer().loads(raw, max_age=SESSION_SECONDS)
    except BadSignature:
        return None
    return data if isinstance(data, dict) and data.get("actor") and data.get("csrf") else None


def peer_urls() -> dict[str, str]:
    """Each service's base URL for the console's cross-service questions (the app config may override it)."""
    configured = current_app.config.get("CONSOLE_PEERS")
    if configured:
        return dict(configured)
    out = {}
    for svc in SERVICES:
        port = env(f"{svc.upper()}_PORT", str(DEFAULT_PORTS[svc]))
        out[svc] = env(f"{svc.upper()}_ADMIN_URL", f"http://127.0.0.1:{port}").rstrip("/")
    return out


def _ask(svc: str, base: str, correlation_id: str, message_ids: list[str]) -> dict:
    """One service's answer for a correlation id: this service's own from its database (a request to itself could
    wait for its own worker), another's over HTTP."""
    service = ctx()
    if svc == service.settings.service:
        with service.transaction() as session:
            return console_ops.correlation(session, service.settings, service.outbox.table, service.inbox,
                                           correlation_id, message_ids)
    return _ask_peer(base, correlation_id, message_ids)


def _ask_peer(base: str, correlation_id: str, message_ids: list[str]) -> dict:
    query = urllib.parse.urlencode([("message_id", m) for m in message_ids], doseq=True)
    url = f"{base}/admin/correlation/{urllib.parse.quote(correlation_id, safe='')}" + (f"?{query}" if query else "")
    # AUTH_MODE=oidc: the operator's own token from the login (the provider gives it every service's audience)
    bearer = (_session() or {}).get("bearer") if ctx().settings.auth_mode == "oidc" else ctx().settings.admin_token
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {bearer or ''}",
                                               "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=PEER_TIMEOUT) as res:  # noqa: S310 - operator-configured URLs
        return json.loads(res.read())


def _is_operator_token(raw: str) -> bool:
    """Whether `raw` is a valid bearer JWT of the provider carrying the operator role (AUTH_MODE=oidc)."""
    from shared.auth import OPERATOR, TokenRefused, authenticator
    try:
        return OPERATOR in authenticator().authenticate(f"Bearer {raw.strip()}").grants
    except TokenRefused:
        return False


def _when(value) -> str:
    if not value:
        return "—"
    if isinstance(value, str):
        from datetime import datetime
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return vn_timestamp(value)


def console_blueprint() -> Blueprint:
    bp = Blueprint("console", __name__, url_prefix=PATH, template_folder="templates")

    @bp.app_template_filter("vn_when")
    def _vn_when(value):
        return _when(value)

    @bp.before_request
    def _guard():
        g.console = _session()
        if request.endpoint in ("console.login", "console.login_form"):
            return None
        if g.console is None:
            if request.method == "GET":
                return redirect(url_for("console.login_form"), 303)
            abort(403)
        if request.method == "POST":
            given = request.form.get("csrf", "")
            if not hmac.compare_digest(given.encode("utf-8", "replace"), g.console["csrf"].encode()):
                abort(403)
        return None

    @bp.errorhandler(DomainError)
    def _domain(error: DomainError):
        return _page("console/error.html", status_of(error), message=str(error), field=getattr(error, "field", None))

    @bp.get("/login")
    def login_form():
        return _page("console/login.html", 200)

    @bp.post("/login")
    def login():
        actor = (request.form.get("actor") or "").strip()[:100]
        given = request.form.get("token") or ""
        if ctx().settings.auth_mode == "oidc":  # an operator's JWT: the static token is development-only (issue 14)
            valid = _is_operator_token(given)
        else:
            valid = hmac.compare_digest(given.encode("utf-8", "replace"), ctx().settings.admin_token.encode("utf-8"))
        if not actor or not valid:
            return _page("console/login.html", 401, error=True, given_actor=actor)
        response = make_response(redirect(url_for("console.index"), 303))
        session = {"actor": actor, "csrf": secrets.token_urlsafe(32)}
        if ctx().settings.auth_mode == "oidc":
            session["bearer"] = given.strip()  # for the trace page's questions to the other services
        value = _serializer().dumps(session)
        response.set_cookie(COOKIE, value, max_age=SESSION_SECONDS, path=PATH, httponly=True, samesite="Strict",
                            # behind the proxy's TLS the app sees http: its X-Forwarded-Proto says https (trusting
                            # it can only make the cookie stricter)
                            secure=request.is_secure or request.headers.get("X-Forwarded-Proto") == "https")
        return response

    @bp.post("/logout")
    def logout():
        response = make_response(redirect(url_for("console.login_form"), 303))
        response.delete_cookie(COOKIE, path=PATH)
        return response

    @bp.get("/")
    def index():
        from shared import admin
        service = ctx()
        jobs_table = service.inbox.metadata.tables.get("jobs")
        with service.transaction() as session:
            outbox = service.outbox.stats(session)
            inbox = admin.inbox_summary(session, service.inbox)
            try:
                tables = console_ops.tables_of(service.inbox.metadata)
                operations = console_ops.list_operations(session, tables)
                op_counts = console_replay.operation_counts(session, tables)
            except DomainError:  # a service whose migration has not added the tables yet
                operations, op_counts = [], None
            jobs = None
            if jobs_table is not None:
                from shared import jobs as shared_jobs
                jobs = {"counts": shared_jobs.counts(session, jobs_table),
                        "failed": shared_jobs.list_jobs(session, jobs_table, status="failed", limit=20)}
        broker_error = None
        try:
            from shared.bus import deadletters
            queues = deadletters.queue_depths(service.settings)
            groups = console_ops.groups(console_ops.parked(service.settings))
        except Exception as exc:  # noqa: BLE001 - the page still shows the database half without a broker
            queues, groups, broker_error = {}, [], exc.__class__.__name__
        return _page("console/index.html", 200, outbox=outbox, inbox=inbox, operations=operations, jobs=jobs,
                     op_counts=op_counts,
                     queues=queues, groups=groups, broker_error=broker_error)

    @bp.post("/outbox/retry")
    def outbox_retry():
        service = ctx()
        with service.transaction() as session:
            service.outbox.retry_now(session)
        return redirect(url_for("console.index"), 303)

    @bp.post("/jobs/<job_id>/retry")
    def job_retry(job_id):
        from shared import jobs as shared_jobs
        from shared.errors import Conflict, NotFound
        service = ctx()
        table = service.inbox.metadata.tables.get("jobs")
        if table is None:
            raise NotFound("Dịch vụ này không có công việc định kỳ.", field="job_id")
        with service.transaction() as session:
            try:
                shared_jobs.retry(session, table, job_id[:36])
            except shared_jobs.JobNotFound:
                raise NotFound("Không tìm thấy công việc.", field="job_id") from None
            except shared_jobs.JobAlreadyDone:
                raise Conflict("Công việc đã chạy xong.", field="job_id") from None
        return redirect(url_for("console.index"), 303)

    @bp.post("/replay")
    def replay():
        """Record the replay of a group; the service's worker carries it out (shared/console_replay.py)."""
        event_type = request.form.get("event_type", "")
        reason = request.form.get("reason", "")
        note = (request.form.get("note") or "").strip()[:1000] or None
        service = ctx()
        tables = console_ops.tables_of(service.inbox.metadata)
        total = sum(g_["count"] for g_ in console_ops.groups(console_ops.parked(service.settings))
                    if (g_["event_type"], g_["reason"]) == (event_type, reason))
        if total == 0:
            from shared.errors import NotFound
            raise NotFound("Nhóm này không còn thông điệp nào trong hàng đợi lỗi.", field="event_type")
        with service.transaction() as session:
            op_id = console_replay.start_replay(session, tables, event_type, reason, g.console["actor"], note,
                                                total)
        return redirect(url_for("console.operation", op_id=op_id), 303)

    @bp.get("/operations/<op_id>")
    def operation(op_id):
        service = ctx()
        with service.transaction() as session:
            op = console_ops.get_operation(session, console_ops.tables_of(service.inbox.metadata), op_id[:36])
        running = op["status"] == "running"
        return _page("console/operation.html", 200, op=op, refresh=REFRESH_SECONDS if running else None,
                     consumers=console_replay.worker_consumers(service.settings) if running else None)

    @bp.get("/messages/<message_id>")
    def message(message_id):
        item = console_ops.parked_message(ctx().settings, message_id[:64])
        payload = json.dumps((item["envelope"] or {}).get("payload"), ensure_ascii=False, indent=2)
        return _page("console/message.html", 200, item=item, payload=payload)

    @bp.post("/messages/<message_id>")
    def edit(message_id):
        service = ctx()
        payload_text = request.form.get("payload", "")
        note = (request.form.get("note") or "")[:1000]
        try:
            op = console_ops.edit_and_retry(service.settings, service.session_factory,
                                            console_ops.tables_of(service.inbox.metadata), message_id[:64],
                                            payload_text, g.console["actor"], note)
        except DomainError as error:
            if getattr(error, "field", None) not in ("payload", "note"):
                raise
            item = getattr(error, "item", None) or console_ops.parked_message(service.settings, message_id[:64])
            return _page("console/message.html", 422, item=item, payload=payload_text, note=note, error=str(error))
        return redirect(url_for("console.operation", op_id=op["id"]), 303)

    @bp.get("/trace")
    def trace():
        correlation_id = (request.args.get("correlation_id") or "").strip()[:64]
        results, errors = {}, {}
        if correlation_id:
            peers = peer_urls()
            for svc, base in peers.items():  # first round: what each published and parked
                try:
                    results[svc] = _ask(svc, base, correlation_id, [])
                except Exception as exc:  # noqa: BLE001 - one silent service does not hide the others
                    errors[svc] = exc.__class__.__name__
            ids = [p["message_id"] for r in results.values() for p in r["published"]]
            for svc in list(results):  # second round: which of those each received
                try:
                    results[svc]["received"] = _ask(svc, peers[svc], correlation_id, ids)["received"]
                except Exception as exc:  # noqa: BLE001
                    errors[svc] = exc.__class__.__name__
        return _page("console/trace.html", 200, correlation_id=correlation_id, results=results, errors=errors)

    return bp


def _page(template: str, status: int, **values):
    session = g.get("console")
    response = make_response(render_template(
        template, service=ctx().settings.service, actor=session["actor"] if session else None,
        csrf=session["csrf"] if session else "", **values), status)
    response.headers["Cache-Control"] = "no-store"
    return response
