"""HTTP contract of the funding service. Amounts are whole VND (integers)."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.funding.domain import ITEM_LABELS, SOURCES

_vnd = dict(strict=True, validate=validate.Range(min=0, max=10**15))


class BudgetLineCreateSchema(Schema):
    fiscal_year = fields.Integer(required=True, strict=True, validate=validate.Range(min=2020, max=2100))
    source = fields.String(required=True, validate=validate.OneOf(SOURCES))
    owner_unit_code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    allocated = fields.Integer(required=True, **_vnd)
    decision_no = fields.String(required=True, validate=validate.Length(min=1, max=100))
    decision_date = fields.Date(required=True)


class BudgetLineSchema(BudgetLineCreateSchema):
    id = fields.String()
    source_label = fields.String()
    spent = fields.Integer()
    balance = fields.Integer()


class BudgetLineQueryArgsSchema(Schema):
    fiscal_year = fields.Integer(load_default=None)


class CostNormCreateSchema(Schema):
    item = fields.String(required=True, validate=validate.Length(min=1, max=40))
    unit = fields.String(required=True, validate=validate.OneOf(["per_buoi", "per_day", "per_km", "per_person"]))
    lecturer_tier = fields.Integer(load_default=None, allow_none=True, strict=True,
                                   validate=validate.Range(min=1, max=10))
    province_code = fields.String(required=True, validate=validate.Length(min=1, max=20))
    amount = fields.Integer(required=True, **_vnd)
    legal_basis = fields.String(required=True, validate=validate.Length(min=1, max=300))
    valid_from = fields.Date(required=True)
    valid_to = fields.Date(load_default=None, allow_none=True)
    is_sample = fields.Boolean(load_default=False)

    @validates_schema
    def _dates(self, data, **_):
        if data.get("valid_to") and data["valid_to"] < data["valid_from"]:
            raise ValidationError("valid_to is before valid_from", field_name="valid_to")


class CostNormSchema(CostNormCreateSchema):
    id = fields.String()


class CostNormQueryArgsSchema(Schema):
    item = fields.String(load_default=None)
    on = fields.Date(load_default=None, metadata={"description": "norms in force on this day"})


class SettlementLineSchema(Schema):
    item = fields.String()
    item_label = fields.Function(lambda line: ITEM_LABELS.get(line.item, line.item))
    payee_kind = fields.String()
    payee_ref = fields.String()
    source = fields.String()
    owner_unit_code = fields.String()
    quantity = fields.Integer()
    unit_amount = fields.Integer()
    amount = fields.Integer()
    norm_id = fields.String()
    budget_line_id = fields.String(allow_none=True)


class SettlementSchema(Schema):
    id = fields.String()
    course_id = fields.String()
    course_code = fields.String()
    source_event_id = fields.String()
    settled_at = fields.AwareDateTime()
    lecturer_fees = fields.Integer()
    learner_support = fields.Integer()
    total = fields.Integer()
    lines = fields.List(fields.Nested(SettlementLineSchema))


class LedgerEntrySchema(Schema):
    seq = fields.Integer()
    journal_id = fields.String()
    account = fields.String()
    debit = fields.Integer()
    credit = fields.Integer()
    course_id = fields.String(allow_none=True)
    cause = fields.String()
    memo = fields.String()
    created_at = fields.AwareDateTime()


class LedgerQueryArgsSchema(Schema):
    course_id = fields.String(load_default=None)
    account = fields.String(load_default=None)
    limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=5000))
