"""QR check-in (issue 12, finding 6): the trainee's pages, the JSON check-in and the officer's check-in API.

Pages (plain HTML, no JavaScript; the token in the path is the capability):
- /checkin/me/<enrollment token>: the trainee's own link (one per enrollment, as a QR code from the officer):
  GET shows the course and the session open for check-in now, POST records that trainee present, pending.
- /checkin/<session token>: the session's link shown in the room; it asks for the trainee's own link and records
  nobody on a civil-servant code. A POST with `t` (a personal token of that course) checks that trainee in.
JSON: POST /api/v1/checkin/<enrollment token> (the personal link for programs); for the officer (token required) the
session link and QR, every trainee's personal link and QR, and the self check-ins of a session to confirm or reject.

Each view makes one use-case call. A refused attempt comes back as `Refused`, already counted in the view's unit of
work: the view commits, then answers the error; over the attempt limits the use cases raise Throttled (429).
"""
from __future__ import annotations

import hmac

from flask import Blueprint, Response, render_template, request

from services.courses import formats, schemas, usecases
from shared import apidoc
from shared.errors import DomainError
from shared.localtime import vn_date
from shared.auth import lecturer_scope
from shared.web import Blueprint as ApiBlueprint, ctx, requires, status_of

pages = Blueprint("courses_checkin", __name__, template_folder="templates")
blp = ApiBlueprint("courses_checkin_api", __name__, url_prefix="",
                   description="Điểm danh QR: đường dẫn riêng của học viên, xác nhận tự điểm danh")


def _limits():
    s = ctx().settings
    return usecases.CheckinLimits(s.checkin_max_failures_per_link, s.checkin_max_failures_per_client,
                                  s.checkin_failure_window_minutes)


def _client_key() -> str:
    """The client as a keyed hash of its address (never stored or logged as it is)."""
    settings = ctx().settings
    header = settings.client_address_header
    address = (request.headers.get(header, "") if header else "") or request.remote_addr or ""
    return hmac.new(settings.api_token.encode(), address.encode("utf-8", "replace"), "sha256").hexdigest()


def _attempt(use_case, *args, **kwargs):
    """Run one trainee-side check-in use case; a refused attempt comes back counted, is committed, then raised."""
    with ctx().transaction() as session:
        outcome = use_case(session, *args, client_key=_client_key(), limits=_limits(), now=ctx().clock(), **kwargs)
    if isinstance(outcome, usecases.Refused):
        raise outcome.error
    return outcome


def _page(status: int = 200, **context) -> Response:
    if context.get("date"):
        context["date_vi"] = vn_date(context["date"])
    response = Response(render_template("checkin.html", **context), status=status, mimetype="text/html")
    if status == 429:
        response.headers["Retry-After"] = str(_limits().window_minutes * 60)
    return response


@pages.route("/checkin/<token>", methods=["GET", "POST"])
def checkin(token):
    """The session's link: GET describes the session; POST checks in the holder of the personal token `t`."""
    hidden = (request.values.get("t") or "")[:64]
    try:
        if request.method == "GET":
            return _page(hidden=hidden, can_submit=bool(hidden), **_attempt(usecases.checkin_page, token))
        done = _attempt(usecases.check_in, hidden or None, session_token=token,
                        code=request.form.get("code") or None)
        return _page(201, **done)
    except DomainError as err:
        return _page(status_of(err), error=err.message)


@pages.route("/checkin/me/<token>", methods=["GET", "POST"])
def personal_checkin(token):
    """The trainee's own link: GET shows the session open now, POST records the trainee present (pending)."""
    try:
        if request.method == "GET":
            context = _attempt(usecases.personal_checkin_page, token)
            return _page(can_submit="session_id" in context, **context)
        return _page(201, **_attempt(usecases.check_in, token))
    except DomainError as err:
        return _page(status_of(err), error=err.message)


@blp.route("/checkin/<token>", methods=["POST"])
@blp.response(201, schemas.SelfCheckinResultSchema)
@blp.alt_response(429, description="Too many refused attempts from this client or at this link")
def self_checkin(token):
    """Check in with a trainee's own token (no bearer: the token is the capability); pending until confirmed."""
    return _attempt(usecases.check_in, token)


def _in_unit_of_work(use_case, *args):
    with ctx().transaction() as session:
        return use_case(session, *args)


@blp.route("/courses/<course_id>/sessions/<session_id>/checkin")
@requires("training-officer", "lecturer")
@blp.response(200, schemas.CheckinLinkSchema)
def checkin_link(course_id, session_id):
    """Return a session's check-in link (shown in the room: it asks for the trainee's own link) and its QR URL."""
    token = _in_unit_of_work(usecases.session_checkin_link, course_id, session_id, lecturer_scope())
    return {"session_id": session_id, "url": f"{request.host_url}checkin/{token}",
            "qr_svg": f"{request.host_url}api/v1/courses/{course_id}/sessions/{session_id}/qr"}


@blp.route("/courses/<course_id>/sessions/<session_id>/qr")
@requires("training-officer", "lecturer")
@blp.arguments(schemas.QrQueryArgsSchema, location="query")
@apidoc.response(blp, "svg", "png")
def checkin_qr(args, course_id, session_id):
    """Return the QR code of a session's check-in link, as SVG (default) or PNG."""
    token = _in_unit_of_work(usecases.session_checkin_link, course_id, session_id, lecturer_scope())
    body, mimetype = formats.qr_code(f"{request.host_url}checkin/{token}", args["format"])
    return Response(body, mimetype=mimetype)


@blp.route("/courses/<course_id>/checkin-links")
@requires("training-officer", "lecturer")
@blp.response(200, schemas.PersonalCheckinLinkSchema(many=True))
def personal_links(course_id):
    """Every enrolled trainee's own check-in link and QR URL, to hand out (personal: token required)."""
    rows = _in_unit_of_work(usecases.personal_checkin_links, course_id, lecturer_scope())
    base = f"{request.host_url}api/v1/courses/{course_id}/enrollments"
    return [{"civil_servant_id": r["civil_servant_id"], "code": r["code"],
             "url": f"{request.host_url}checkin/me/{r['token']}",
             "qr_svg": f"{base}/{r['civil_servant_id']}/checkin-qr"} for r in rows]


@blp.route("/courses/<course_id>/enrollments/<civil_servant_id>/checkin-qr")
@requires("training-officer", "lecturer")
@blp.arguments(schemas.QrQueryArgsSchema, location="query")
@apidoc.response(blp, "svg", "png")
def personal_qr(args, course_id, civil_servant_id):
    """Return the QR code of one trainee's own check-in link, as SVG (default) or PNG."""
    token = _in_unit_of_work(usecases.personal_checkin_token, course_id, civil_servant_id, lecturer_scope())
    body, mimetype = formats.qr_code(f"{request.host_url}checkin/me/{token}", args["format"])
    return Response(body, mimetype=mimetype)


@blp.route("/courses/<course_id>/sessions/<session_id>/self-checkins")
@requires("training-officer", "inspector", "lecturer")
@blp.arguments(schemas.SelfCheckinQueryArgsSchema, location="query")
@blp.response(200, schemas.SelfCheckinListSchema)
def self_checkins(args, course_id, session_id):
    """List the trainees' own check-ins of a session (pending first); only confirmed ones count."""
    return _in_unit_of_work(usecases.list_self_checkins, course_id, session_id, args["confirmation"],
                            lecturer_scope())


@blp.route("/courses/<course_id>/sessions/<session_id>/self-checkins/review", methods=["POST"])
@requires("training-officer", "lecturer")
@blp.arguments(schemas.SelfCheckinReviewCreateSchema)
@blp.response(200, schemas.SelfCheckinReviewSchema)
def review_self_checkins(data, course_id, session_id):
    """Confirm or reject self check-ins: those of `civil_servant_ids`, or every pending one when omitted."""
    return _in_unit_of_work(usecases.review_self_checkins, course_id, session_id, data["decision"],
                            data["civil_servant_ids"], ctx().clock(), lecturer_scope())


@blp.route("/courses/<course_id>/sessions/<session_id>/self-checkins/<civil_servant_id>/review", methods=["POST"])
@requires("training-officer", "lecturer")
@blp.arguments(schemas.SelfCheckinDecisionCreateSchema)
@blp.response(200, schemas.SelfCheckinReviewSchema)
def review_self_checkin(data, course_id, session_id, civil_servant_id):
    """Confirm or reject one trainee's self check-in of a session."""
    return _in_unit_of_work(usecases.review_self_checkins, course_id, session_id, data["decision"],
                            [civil_servant_id], ctx().clock(), lecturer_scope())

