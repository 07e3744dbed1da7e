"""Reference and sample data of the evaluation service: the question bank, form templates and rule versions
(labelled MẪU where the client has not confirmed them) and an idempotent `seed(session)`.

The rows are migration 0002's, read from that revision (as courses' seed does) so there is one copy of them; a
migrated database already holds them and `seed` adds only what is missing (a database built from the models, or one
an operator emptied).
"""
from __future__ import annotations

import importlib.util
import pathlib

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.evaluation.models import FormTemplate, QuestionItem, RuleVersion

_REVISION = pathlib.Path(__file__).parent / "migrations" / "versions" / "0002_complete_evaluation.py"


def _revision():
    """Revision 0002, which holds the data (one copy: the released revision is never edited)."""
    spec = importlib.util.spec_from_file_location("evaluation_0002", _REVISION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_REV = _revision()
SEEDED_AT = _REV.SEEDED_AT
BANK = _REV.BANK  # (code, object, criterion, label, kind, purpose); objects per TT 10/2017/TT-BNV Art. 4
TEMPLATES = _REV.TEMPLATES  # (id, code, purpose, title, item codes)
RULES = _REV.RULES  # (id, code, valid_from, legal_basis, params, is_sample)



def template_items(item_codes: list[str]) -> list[dict]:
    """A template's stored items from bank codes (as migration 0002 built them)."""
    by_code = {row[0]: row for row in BANK}
    return [{"code": c, "object": by_code[c][1], "criterion": by_code[c][2], "label": by_code[c][3],
             "kind": by_code[c][4]} for c in item_codes]


def seed(session: Session) -> dict:
    """Insert the bank items, template versions and rule versions that are missing (by code, id, id); return the
    counts added. Running it again adds nothing."""
    have_items = set(session.scalars(sa.select(QuestionItem.code)))
    have_templates = set(session.scalars(sa.select(FormTemplate.id)))
    have_rules = set(session.scalars(sa.select(RuleVersion.id)))
    items = [QuestionItem(**dict(zip(("code", "object_code", "criterion_code", "label", "kind", "purpose"), row)))
             for row in BANK if row[0] not in have_items]
    templates = [FormTemplate(id=tid, code=code, version=1, purpose=purpose, title=title, created_at=SEEDED_AT,
                              items=template_items(codes))
                 for tid, code, purpose, title, codes in TEMPLATES if tid not in have_templates]
    rules = [RuleVersion(id=rid, code=code, valid_from=vf, valid_to=None, legal_basis=basis, params=params,
                         is_sample=sample, created_at=SEEDED_AT)
             for rid, code, vf, basis, params, sample in RULES if rid not in have_rules]
    session.add_all(items + templates + rules)
    session.flush()
    return {"question_items": len(items), "templates": len(templates), "rules": len(rules)}
