"""The trainee's feedback page /feedback/<token>: server-rendered Vietnamese HTML, no JavaScript, one POST.

Works on a phone over a slow link: one small page (inline CSS, radio buttons 1–10), form-encoded POST, clear
messages for an unknown, expired or already used link. The JSON API beside it stays for programs.
"""
from __future__ import annotations

import gzip

from flask import Blueprint, make_response, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge, UnprocessableEntity

from services.evaluation import usecases
from shared.errors import Conflict, DomainError, Gone, Invalid, NotFound
from shared.localtime import vn_datetime
from shared.web import ctx, status_of

bp = Blueprint("feedback_page", __name__, template_folder="templates")
TITLES = {"course": "Phiếu lấy ý kiến học viên", "trainee": "Khảo sát hiệu quả sau khóa học",
          "supervisor": "Khảo sát hiệu quả sau khóa học (thủ trưởng)"}
MAX_TEXT = 2000  # the form's maxlength for each typed text and the comment (FeedbackCreateSchema's too)
STATE_MESSAGES = {
    "submitted": ("Phiếu này đã được gửi trước đó. Mỗi đường dẫn chỉ gửi được một lần — cảm ơn anh/chị.", 409),
    "expired": ("Đã hết hạn gửi phiếu cho khóa học này. Cảm ơn anh/chị đã quan tâm.", 410),
}


def _render(context: dict | None, status: int, message: str = "", message_class: str = "", answers=None,
            show_form: bool = False):
    context = context or {}
    deadline = context.get("deadline")
    html = render_template(
        "feedback.html", page_title=context.get("title") or "Phiếu lấy ý kiến", message=message,
        message_class=message_class, show_form=show_form, answers=answers or {},
        deadline_vi=vn_datetime(deadline) if deadline else "",
        **{k: v for k, v in context.items() if k != "deadline"})
    body = html.encode("utf-8")
    response = make_response(body, status)
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        # Radio rows repeat: gzip makes a 12–16 KB page 2–3 KB on a slow mobile link.
        response.set_data(gzip.compress(body, 6))
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Cache-Control"] = "no-store"  # the page carries a personal link
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _context(token: str):
    """The form's context with short field names (q1…, g1_1…, t1…) that keep the page small on a slow link."""
    with ctx().transaction() as session:
        context = usecases.get_form_context(session, token)
    fields, n = {}, 0
    for section in context["sections"]:
        for item in section["items"]:
            n += 1
            item["field"] = f"{'q' if item['kind'] == 'score' else 't'}{n}"
            fields[item["field"]] = ("answer" if item["kind"] == "score" else "text", None, item["code"])
    lecturers = []
    for g, lecturer in enumerate(context["lecturers"], start=1):
        items = [{**item, "field": f"g{g}_{k}"} for k, item in enumerate(lecturer["items"], start=1)]
        fields.update({i["field"]: ("lecturer", lecturer["lecturer_id"], i["code"]) for i in items})
        lecturers.append({**lecturer, "items": items})
    context["lecturers"] = lecturers
    context["fields"] = fields
    return context


@bp.route("/feedback/<token>", methods=["GET"])
def show(token):
    """The form, or a clear message when the link is unknown, expired or already used."""
    try:
        context = _context(token)
    except NotFound:
        return _render(None, 404, "Đường dẫn không hợp lệ. Hãy kiểm tra lại đường dẫn cán bộ quản lý lớp đã gửi.",
                       "er")
    if context["state"] in STATE_MESSAGES:
        message, status = STATE_MESSAGES[context["state"]]
        return _render(context, status, message, "ok" if status == 409 else "er")
    return _render(context, 200, show_form=True)


def _parse(form, fields: dict) -> tuple[dict, dict, dict, str | None, list[str]]:
    answers, lecturers, texts, problems = {}, {}, {}, []
    for key, raw in form.items():
        value = raw.strip()
        if key == "comment":
            continue
        if key not in fields:
            problems.append(key)
            continue
        kind, lecturer_id, code = fields[key]
        if kind == "text":
            if len(value) > MAX_TEXT:
                problems.append(key)
            elif value:
                texts[code] = value
            continue
        if not value:
            continue
        # isascii: "²" or "٣" pass isdigit() but int() refuses them (a 500 before this check).
        if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 10:
            problems.append(key)
        elif kind == "answer":
            answers[code] = int(value)
        else:
            lecturers.setdefault(lecturer_id, {})[code] = int(value)
    comment = (form.get("comment") or "").strip() or None
    if comment and len(comment) > MAX_TEXT:
        problems.append("comment")
    return answers, lecturers, texts, comment, problems


def _echo(form, fields: dict) -> dict:
    """The answers to show again on a refused form: only this form's own fields, each typed text cut to MAX_TEXT
    characters and each score to two — never the input as sent (a 64 KB form must not come back as a 64 KB page)."""
    kept = {}
    for key in (*fields, "comment"):
        value = form.get(key)
        if value is not None:
            kept[key] = value[:MAX_TEXT] if key == "comment" or fields[key][0] == "text" else value[:2]
    return kept


def _problem_message(context: dict, problems: list[str],
                     reason: str = "chọn điểm từ 1 đến 10, ý kiến tối đa 2000 ký tự") -> str:
    """Name the questions whose answers were refused (by their label, as the trainee sees them)."""
    labels = {i["field"]: i["label"] for s in context["sections"] for i in s["items"]}
    labels.update({i["field"]: f"{lec['label']}: {i['label']}" for lec in context["lecturers"] for i in lec["items"]})
    labels["comment"] = "Ý kiến khác (tối đa 2000 ký tự)"
    named = [f"«{labels[p]}»" for p in problems if p in labels]
    unknown = len(problems) - len(named)
    parts = [f"Câu trả lời không hợp lệ ({reason}): " + "; ".join(named)] if named else []
    if unknown:
        parts.append(f"{unknown} trường không có trong phiếu")
    return ". ".join(parts) + ". Hãy kiểm tra rồi gửi lại."


@bp.route("/feedback/<token>", methods=["POST"])
def submit(token):
    """Take a form-encoded submission once; answer with a confirmation page or a clear refusal."""
    try:
        context = _context(token)
    except NotFound:
        return _render(None, 404, "Đường dẫn không hợp lệ.", "er")
    if context["state"] in STATE_MESSAGES:
        message, status = STATE_MESSAGES[context["state"]]
        return _render(context, status, message, "er")
    answers, lecturers, texts, comment, problems = _parse(request.form, context["fields"])
    kept = _echo(request.form, context["fields"])  # what a refusal shows again
    if problems:
        return _render(context, 422, _problem_message(context, problems), "er", answers=kept, show_form=True)
    try:
        with ctx().transaction() as session:
            accepted = usecases.submit_feedback(session, token, {}, comment, answers=answers,
                                                lecturer_answers=lecturers, texts=texts)
        valid, share = accepted["valid"], accepted["max_unanswered_share"]  # the share is versioned, not always 5 %
    except DomainError as exc:
        if isinstance(exc, Gone):
            return _render(context, 410, STATE_MESSAGES["expired"][0], "er")
        if isinstance(exc, Conflict) and exc.field == "token":  # not any 409 (e.g. a rule missing) means "already sent"
            return _render(context, 409, STATE_MESSAGES["submitted"][0], "er")
        if isinstance(exc, Invalid) and exc.field == "scores":
            return _render(context, 422, exc.message, "er", answers=kept, show_form=True)
        return _render(context, status_of(exc), f"Không gửi được phiếu: {exc.message}", "er", answers=kept,
                       show_form=True)
    share_vi = f"{share * 100:g}".replace(".", ",")
    note = "" if valid else (f" Lưu ý: phiếu bỏ trống quá {share_vi} % số câu nên không được tính vào điểm trung "
                             "bình (vẫn được tính là đã trả lời).")
    return _render(context, 200, "Cảm ơn anh/chị! Phiếu đã được ghi nhận." + note, "ok")


def _refused_before_the_view(status: int, message_of) -> object:
    """The page again, with a Vietnamese message, for a request shared.web refused before the view ran (the JSON
    API answers the same refusal in its JSON error shape)."""
    try:
        context = _context((request.view_args or {}).get("token", ""))
    except NotFound:
        return _render(None, 404, "Đường dẫn không hợp lệ.", "er")
    if context["state"] in STATE_MESSAGES:
        message, state_status = STATE_MESSAGES[context["state"]]
        return _render(context, state_status, message, "er")
    answers = _echo(request.form, context["fields"]) if status == 422 else {}
    return _render(context, status, message_of(context), "er", answers=answers, show_form=True)


@bp.errorhandler(UnprocessableEntity)
def _refused_characters(error):
    """A field with a control character or a lone surrogate (shared.web's input check): named by its question;
    the other answers are kept (the check has already dropped the refused ones), cut to the form's lengths."""
    messages = (getattr(error, "data", None) or {}).get("messages") or {}
    refused = [name for location in messages.values() if isinstance(location, dict) for name in location]
    return _refused_before_the_view(422, lambda context: _problem_message(
        context, refused, "có ký tự không hợp lệ, thường do dán từ văn bản khác; hãy gõ lại"))


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(error):
    """A form over the body cap (MAX_FORM_BYTES): a short page, never the input echoed."""
    return _refused_before_the_view(413, lambda context: (
        f"Phiếu gửi quá lớn. Mỗi ý kiến tối đa {MAX_TEXT} ký tự; hãy rút gọn rồi gửi lại."))
