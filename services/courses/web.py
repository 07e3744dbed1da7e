"""The trainee's QR check-in page /checkin/<token>: a plain HTML form, no JavaScript; the token in the path is the
capability. GET shows the session and the form, POST records the presence (one use case each)."""
from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from services.courses import usecases
from shared.errors import DomainError
from shared.localtime import vn_date
from shared.web import ctx, status_of

pages = Blueprint("courses_checkin", __name__, template_folder="templates")


def _page(status: int = 200, **context) -> Response:
    if context.get("date"):
        context["date_vi"] = vn_date(context["date"])
    return Response(render_template("checkin.html", **context), status=status, mimetype="text/html")


@pages.route("/checkin/<token>", methods=["GET", "POST"])
def checkin(token):
    """Show the check-in form of a session (GET) or record the trainee's presence (POST)."""
    try:
        with ctx().transaction() as session:
            if request.method == "GET":
                return _page(hidden=request.args.get("t", ""), **usecases.checkin_page(session, token))
            done = usecases.check_in(session, token, request.form.get("code") or None, request.form.get("t") or None)
        return _page(201, **done)
    except DomainError as err:
        return _page(status_of(err), error=err.message)
