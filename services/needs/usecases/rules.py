"""Versioned rules of the needs service (combination, priority weights, standards) over shared.rules."""
from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from services.needs import domain
from services.needs.models import Rule
from shared import rules
from shared.errors import Conflict, Invalid, NotFound
from shared.localtime import local_today

def rule_value(session: Session, code: str, day: date | None = None) -> dict:
    """Return the value of the rule `code` in force on `day` (today by default)."""
    rule = rules.in_force(session, Rule, day or local_today(), code=code)
    if rule is None:
        raise Conflict(f"Chưa cấu hình quy tắc «{code}» có hiệu lực.", field="rules")
    return rule.value


def _rule_code(kind: str) -> str:
    code = domain.RULE_KINDS.get(kind)
    if code is None:
        raise NotFound(f"Không có loại quy tắc «{kind}».", field="kind")
    return code


def list_rules_in_force(session: Session, today: date | None = None) -> list[Rule]:
    """Return, for every rule kind, the version in force today (kinds with none are left out)."""
    today = today or local_today()
    found = rules.in_force_by(session, Rule, today, "code", among=domain.RULE_KINDS.values())
    return [found[code] for code in domain.RULE_KINDS.values() if code in found]


def list_rule_versions(session: Session, kind: str) -> list[Rule]:
    """Return every version of the rule `kind`, oldest first."""
    return rules.versions(session, Rule, code=_rule_code(kind))


def add_rule_version(session: Session, kind: str, data: dict) -> Rule:
    """Add a version of the rule `kind` (shared.rules: an open-ended version started earlier ends the day before;
    any other overlap is refused naming valid_from). The value is checked as the closing will read it."""
    code = _rule_code(kind)
    try:
        domain.check_rule_value(code, data["value"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise Invalid(f"Giá trị quy tắc không hợp lệ ({exc.__class__.__name__}: {exc}).", field="value") from None
    return rules.add_version(session, Rule, {
        "value": data["value"], "legal_basis": data["legal_basis"], "valid_from": data["valid_from"],
        "valid_to": data.get("valid_to"), "is_sample": data.get("sample", False)}, code=code)


def _standards(session: Session, day: date | None = None) -> list[domain.StandardRule]:
    return [domain.StandardRule.from_data(r) for r in rule_value(session, "standards", day)["rules"]]
