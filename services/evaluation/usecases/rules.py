"""Versioned rules of the evaluation service (over shared.rules), the question bank and the form templates."""
from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.evaluation import domain
from services.evaluation.models import FormTemplate, QuestionItem, RuleVersion
from shared import rules
from shared.errors import Conflict, Invalid, NotFound
from shared.localtime import local_today, utcnow

# URL kind (kebab-case, /api/v1/rules/<kind>) → the rule's code in rule_versions (kept as stored).
RULE_KINDS = {"scoring": "scoring", "feedback-window": "feedback_window", "followup": "followup",
              "level-mapping": "level_mapping", "excellent-learner": "excellent_learner",
              "report-privacy": "report_privacy", "templates": "templates", "unit-indicators": "unit_indicators"}
RULE_CODES = tuple(RULE_KINDS.values())
KIND_OF = {code: kind for kind, code in RULE_KINDS.items()}


def _missing(code: str, on: date) -> Conflict:
    return Conflict(f"Chưa có quy định «{code}» áp dụng cho ngày {on.isoformat()}.", field="code")


def active_rule(session: Session, code: str, on: date | None = None) -> dict:
    """The parameters of rule `code` in force on `on` (today, local time, by default)."""
    on = on or local_today()
    row = rules.in_force(session, RuleVersion, on, code=code)
    if row is None:
        raise _missing(code, on)
    return row.params


def active_rules(session: Session, codes: tuple[str, ...], on: date) -> dict[str, dict]:
    """Several rules in force on `on`, in one query (opening a batch of courses reads two)."""
    found = rules.in_force_by(session, RuleVersion, on, "code", among=codes)
    for code in codes:
        if code not in found:
            raise _missing(code, on)
    return {code: row.params for code, row in found.items()}


def privacy_minimum(session: Session, on: date | None = None) -> int:
    """The smallest group a report may show (the report_privacy rule in force)."""
    return active_rule(session, "report_privacy", on)["min_group_size"]


def _rule_dict(r: RuleVersion) -> dict:
    return {"id": r.id, "kind": KIND_OF.get(r.code, r.code), "code": r.code, "valid_from": r.valid_from,
            "valid_to": r.valid_to, "legal_basis": r.legal_basis, "params": r.params, "is_sample": r.is_sample}


def _code_of(kind: str) -> str:
    if kind not in RULE_KINDS:
        raise NotFound(f"Không có loại quy định «{kind}» ({', '.join(RULE_KINDS)}).", field="kind")
    return RULE_KINDS[kind]


def list_rules_in_force(session: Session, today: date | None = None) -> list[dict]:
    """Every rule kind of the service with the version in force today (None where there is none)."""
    found = rules.in_force_by(session, RuleVersion, today or local_today(), "code", among=RULE_CODES)
    return [{"kind": kind, "in_force": _rule_dict(found[code]) if code in found else None}
            for kind, code in RULE_KINDS.items()]


def list_rule_versions(session: Session, kind: str) -> list[dict]:
    """Every version of one rule kind, newest first."""
    return [_rule_dict(r) for r in rules.versions(session, RuleVersion, newest_first=True, code=_code_of(kind))]


def _check_rule_params(session: Session, code: str, params: dict) -> None:
    try:
        domain.check_rule_params(code, params)
    except domain.RuleError as exc:
        raise Invalid(str(exc), field=exc.field) from None
    if code == "templates":
        for purpose in domain.PURPOSES:
            tcode = params.get(purpose)
            if not isinstance(tcode, str) or session.scalar(sa.select(FormTemplate.id).where(
                    FormTemplate.code == tcode, FormTemplate.purpose == purpose).limit(1)) is None:
                raise Invalid(f"Không có mẫu phiếu «{tcode}» cho mục đích {purpose}.", field=f"params.{purpose}")


def add_rule_version(session: Session, kind: str, data: dict, now: datetime | None = None) -> dict:
    """Add a version of a rule kind from valid_from (shared.rules: an open-ended version that started earlier
    ends the day before; any other overlap is a conflict naming valid_from)."""
    code = _code_of(kind)
    rules.check_range(data["valid_from"], data.get("valid_to"))
    _check_rule_params(session, code, data["params"])
    row = rules.add_version(session, RuleVersion, {
        "valid_from": data["valid_from"], "valid_to": data.get("valid_to"), "legal_basis": data["legal_basis"],
        "params": data["params"], "is_sample": data.get("is_sample", False), "created_at": now or utcnow()},
        code=code)
    return _rule_dict(row)


# --- question bank and templates -------------------------------------------------------------------------------

def list_bank(session: Session, purpose: str | None = None) -> list[dict]:
    """The question bank, grouped by purpose and evaluated object."""
    stmt = sa.select(QuestionItem).order_by(QuestionItem.purpose, QuestionItem.object_code, QuestionItem.code)
    if purpose:
        stmt = stmt.where(QuestionItem.purpose == purpose)
    return [{"code": q.code, "object_code": q.object_code, "criterion_code": q.criterion_code, "label": q.label,
             "kind": q.kind, "purpose": q.purpose} for q in session.scalars(stmt)]


def add_bank_item(session: Session, data: dict) -> dict:
    """Add an item to the question bank (items are never edited: a changed wording is a new code)."""
    if session.get(QuestionItem, data["code"]) is not None:
        raise Conflict("Mã câu hỏi đã tồn tại.", field="code")
    session.add(QuestionItem(**data))
    session.flush()
    return data


def _template_dict(t: FormTemplate) -> dict:
    return {"id": t.id, "code": t.code, "version": t.version, "purpose": t.purpose, "title": t.title,
            "items": t.items, "created_at": t.created_at}


def list_templates(session: Session) -> list[dict]:
    """Every template version."""
    return [_template_dict(t) for t in session.scalars(
        sa.select(FormTemplate).order_by(FormTemplate.code, FormTemplate.version))]


def create_template_version(session: Session, data: dict, now: datetime | None = None) -> dict:
    """Build the next version of a template from question-bank items (earlier versions stay as they were)."""
    items = []
    for n, code in enumerate(data["item_codes"]):
        q = session.get(QuestionItem, code)
        if q is None:
            raise Invalid(f"Không có câu hỏi «{code}» trong ngân hàng câu hỏi.", field=f"item_codes.{n}")
        if q.purpose != data["purpose"]:
            raise Invalid(f"Câu hỏi «{code}» thuộc mục đích {q.purpose}.", field=f"item_codes.{n}")
        items.append({"code": q.code, "object": q.object_code, "criterion": q.criterion_code, "label": q.label,
                      "kind": q.kind})
    if len({i["code"] for i in items}) != len(items):
        raise Invalid("Một câu hỏi xuất hiện hai lần.", field="item_codes")
    if not any(i["kind"] == "score" for i in items):
        raise Invalid("Mẫu phiếu cần ít nhất một chỉ tiêu chấm điểm.", field="item_codes")
    previous = session.scalar(sa.select(FormTemplate).where(FormTemplate.code == data["code"])
                              .order_by(FormTemplate.version.desc()).limit(1))
    if previous is not None and previous.purpose != data["purpose"]:
        raise Conflict("Mẫu phiếu này có mục đích khác.", field="purpose")
    t = FormTemplate(id=str(uuid.uuid4()), code=data["code"], version=(previous.version + 1 if previous else 1),
                     purpose=data["purpose"], title=data["title"], items=items, created_at=now or utcnow())
    session.add(t)
    session.flush()
    return _template_dict(t)


def current_template_ids(session: Session, on: date, names: dict | None = None) -> dict[str, str]:
    """The latest version of each template named by the `templates` rule in force (one query)."""
    names = names or active_rule(session, "templates", on)
    latest = {}
    for code, tid in session.execute(sa.select(FormTemplate.code, FormTemplate.id)
                                     .where(FormTemplate.code.in_(set(names.values())))
                                     .order_by(FormTemplate.code, FormTemplate.version)):
        latest[code] = tid  # ordered by version: the highest wins
    return {purpose: latest.get(names[purpose]) for purpose in domain.PURPOSES}


def scored_indicators(template: FormTemplate | None) -> list[domain.Indicator]:
    """The scored items of a form template (a course opened before templates existed: the five dimensions)."""
    if template is None:
        return [domain.Indicator(c, "programme", c) for c in domain.CRITERIA]
    return [domain.Indicator(i["code"], i["object"], i["criterion"]) for i in template.items if i["kind"] == "score"]
