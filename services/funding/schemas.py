"""HTTP contract of the funding service. Amounts are whole VND (integers)."""
from datetime import date

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.funding.domain import ITEM_LABELS, LEGACY_SOURCES, REPORT_GROUPS, SOURCES, UNITS
from services.funding.seed import COMMUNES

_vnd = dict(strict=True, validate=validate.Range(min=0, max=10**15))
YEAR = validate.Range(min=2000, max=2100)
# Dates outside this window are typing mistakes, and the years 1 and 9999 overflow date arithmetic.
DAY = validate.Range(min=date(2000, 1, 1), max=date(2100, 12, 31), error="Ngày phải trong khoảng 2000–2100.")
FORMAT = fields.String(load_default="json", validate=validate.OneOf(["json", "csv", "xlsx"]),
                       metadata={"description": "json | csv | xlsx"})


class BudgetLineCreateSchema(Schema):
    fiscal_year = fields.Integer(required=True, strict=True, validate=validate.Range(min=2020, max=2100))
    # "dtbd_state" (the skeleton's spelling) is still accepted and stored as "state_dtbd"
    source = fields.String(required=True, validate=validate.OneOf(SOURCES + tuple(LEGACY_SOURCES)))
    owner_unit_code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    allocated = fields.Integer(required=True, **_vnd)
    decision_no = fields.String(required=True, validate=validate.Length(min=1, max=100))
    decision_date = fields.Date(required=True, validate=DAY)


class BudgetLineSchema(BudgetLineCreateSchema):
    id = fields.String()
    source_label = fields.String()
    reserved = fields.Integer()
    spent = fields.Integer()
    balance = fields.Integer(metadata={"description": "allocated − reserved − spent, from the ledger"})
    ledger_consistent = fields.Boolean()


class BudgetAmendmentCreateSchema(Schema):
    delta = fields.Integer(required=True, strict=True, validate=validate.Range(min=-10**15, max=10**15),
                           metadata={"description": "VND added (positive) or withdrawn (negative)"})
    decision_no = fields.String(required=True, validate=validate.Length(min=1, max=100))
    decision_date = fields.Date(required=True, validate=DAY)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=300))


class BudgetAmendmentSchema(BudgetAmendmentCreateSchema):
    id = fields.String()
    budget_line_id = fields.String()
    created_at = fields.AwareDateTime()


class BudgetLineDetailSchema(BudgetLineSchema):
    amendments = fields.List(fields.Nested(BudgetAmendmentSchema))


class BudgetLineQueryArgsSchema(Schema):
    fiscal_year = fields.Integer(load_default=None, validate=YEAR)


class CostNormCreateSchema(Schema):
    item = fields.String(required=True, validate=validate.Length(min=1, max=40))
    unit = fields.String(required=True, validate=validate.OneOf(UNITS))
    lecturer_tier = fields.Integer(load_default=None, allow_none=True, strict=True,
                                   validate=validate.Range(min=1, max=10))
    province_code = fields.String(required=True, validate=validate.Length(min=1, max=20))
    amount = fields.Integer(required=True, **_vnd)
    legal_basis = fields.String(required=True, validate=validate.Length(min=1, max=300))
    valid_from = fields.Date(required=True, validate=DAY)
    valid_to = fields.Date(load_default=None, allow_none=True, validate=DAY)
    is_sample = fields.Boolean(load_default=False)

    @validates_schema
    def _dates(self, data, **_):
        if data.get("valid_to") and data["valid_to"] < data["valid_from"]:
            raise ValidationError("Ngày hết hiệu lực trước ngày bắt đầu hiệu lực.", field_name="valid_to")


class CostNormSchema(CostNormCreateSchema):
    id = fields.String()
    item_label = fields.Function(lambda n: ITEM_LABELS.get(n.item, n.item))


class CostNormQueryArgsSchema(Schema):
    item = fields.String(load_default=None)
    on = fields.Date(load_default=None, validate=DAY, metadata={"description": "norms in force on this day"})
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv", "xlsx"]),
                           metadata={"description": "json | csv | xlsx (the columns the import reads)"})


class RuleKindSchema(Schema):
    kind = fields.String(metadata={"description": "the rule kind of /api/v1/rules/<kind>"})
    label = fields.String()
    on = fields.Date(metadata={"description": "the day the versions below are in force (today)"})
    in_force = fields.List(fields.Nested(CostNormSchema), metadata={"description": "each with its legal basis"})


class ImportResultSchema(Schema):
    imported = fields.Integer()
    superseded = fields.Integer(metadata={"description": "open-ended versions closed the day before a new one"})


class _CostLineSchema(Schema):
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
    cap_norm_id = fields.String(allow_none=True)
    detail = fields.String(allow_none=True)


def _sums(lines, key) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in lines:
        k = key(line)
        out[k] = out.get(k, 0) + line.amount
    return out


def by_item(attr: str):
    """Totals per item of a list of cost lines (whole VND)."""
    return fields.Function(lambda obj: _sums(getattr(obj, attr), lambda x: x.item))


def by_source(attr: str):
    """Totals per "source/owner unit" of a list of cost lines (whole VND)."""
    return fields.Function(lambda obj: _sums(getattr(obj, attr), lambda x: f"{x.source}/{x.owner_unit_code}"))


class SettlementLineSchema(_CostLineSchema):
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
    reservation_id = fields.String(allow_none=True)
    estimate_total = fields.Integer(allow_none=True)
    variance = fields.Integer(allow_none=True, metadata={"description": "actual − estimate"})
    released = fields.Integer(allow_none=True)
    unfunded = fields.Integer(allow_none=True)
    by_item = by_item("lines")
    by_source = by_source("lines")
    lines = fields.List(fields.Nested(SettlementLineSchema))


class ReservationLineSchema(Schema):
    budget_line_id = fields.String()
    source = fields.String()
    owner_unit_code = fields.String()
    amount = fields.Integer()


class EstimateSchema(Schema):
    reservation_id = fields.String(attribute="id")
    course_id = fields.String()
    revision = fields.Integer()
    fiscal_year = fields.Integer()
    status = fields.String(metadata={"description": "active | rejected | superseded | released | settled"})
    reason = fields.String(allow_none=True)
    estimate_total = fields.Integer()
    created_at = fields.AwareDateTime()
    by_item = by_item("estimate")
    by_source = by_source("estimate")
    reserved_lines = fields.List(fields.Nested(ReservationLineSchema), attribute="lines")
    lines = fields.List(fields.Nested(_CostLineSchema), attribute="estimate")


class PayeeArgsSchema(Schema):
    format = FORMAT


class LedgerEntrySchema(Schema):
    seq = fields.Integer()
    journal_id = fields.String()
    account = fields.String()
    debit = fields.Integer()
    credit = fields.Integer()
    course_id = fields.String(allow_none=True)
    cause = fields.String()
    memo = fields.String()
    reverses = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()


class LedgerQueryArgsSchema(Schema):
    course_id = fields.String(load_default=None)
    account = fields.String(load_default=None)
    limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=5000))


class ReverseJournalSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


class IncentiveSchema(Schema):
    id = fields.String()
    course_id = fields.String()
    civil_servant_id = fields.String()
    commune_code = fields.String()
    item = fields.String()
    amount = fields.Integer()
    norm_id = fields.String()
    cap_norm_id = fields.String(allow_none=True)
    source = fields.String()
    owner_unit_code = fields.String()
    budget_line_id = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()


class CourseArgsSchema(Schema):
    course_id = fields.String(load_default=None)


class CivilServantArgsSchema(Schema):
    civil_servant_id = fields.String(load_default=None)


class CommitmentCreateSchema(Schema):
    civil_servant_id = fields.String(required=True, validate=validate.Length(min=1, max=36), metadata={
        "description": "a civil servant funding knows from needs' registry events (else 422 naming this field)"})
    programme = fields.String(required=True, validate=validate.Length(min=1, max=200))
    decision_no = fields.String(required=True, validate=validate.Length(min=1, max=100))
    training_cost = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10**13),
                                   metadata={"description": "F: the training cost paid, whole VND"})
    training_months = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=120))
    training_end = fields.Date(required=True, validate=DAY)
    committed_months = fields.Integer(load_default=None, allow_none=True, strict=True,
                                      validate=validate.Range(min=1, max=600),
                                      metadata={"description": "T1; default: the multiplier norm × training"})


class CommitmentSchema(CommitmentCreateSchema):
    id = fields.String()
    multiplier_norm_id = fields.String(allow_none=True)
    service_start = fields.Date()
    status = fields.String()
    created_at = fields.AwareDateTime()


class ReceivableSchema(Schema):
    id = fields.String()
    commitment_id = fields.String()
    civil_servant_id = fields.String()
    amount = fields.Integer(metadata={"description": "S = F / T1 × (T1 − T2), rounded half up to whole VND"})
    training_cost = fields.Integer()
    committed_months = fields.Integer()
    served_months = fields.Integer()
    left_on = fields.Date()
    reason = fields.String()
    status = fields.String()
    created_at = fields.AwareDateTime()


class SpendingArgsSchema(Schema):
    group_by = fields.String(load_default="source", validate=validate.OneOf(REPORT_GROUPS))
    fiscal_year = fields.Integer(load_default=None, validate=YEAR)
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv", "xlsx", "svg", "png"]),
                           metadata={"description": "json | csv | xlsx | svg, png (bar chart)"})


class PlanArgsSchema(Schema):
    fiscal_year = fields.Integer(required=True, validate=validate.Range(min=2020, max=2100))
    format = FORMAT


class BurnArgsSchema(Schema):
    fiscal_year = fields.Integer(required=True, validate=validate.Range(min=2020, max=2100))
    format = fields.String(load_default="svg", validate=validate.OneOf(["json", "svg", "png", "xlsx"]),
                           metadata={"description": "json | svg | png (chart) | xlsx (table with a line chart)"})


# --- report bodies (JSON; the same routes answer CSV, XLSX or charts: shared.apidoc documents those) -------------

class SpendingRowSchema(Schema):
    key = fields.String(metadata={"description": "the source, item, commune, course id or year"})
    label = fields.String()
    amount = fields.Integer(metadata={"description": "whole VND"})


class SpendingReportSchema(Schema):
    group_by = fields.String()
    fiscal_year = fields.Integer(allow_none=True)
    rows = fields.List(fields.Nested(SpendingRowSchema), metadata={"description": "largest first"})
    total = fields.Integer()


class LinePlanSchema(Schema):
    budget_line_id = fields.String()
    source = fields.String()
    source_label = fields.String()
    owner_unit_code = fields.String()
    allocated = fields.Integer()
    reserved = fields.Integer()
    spent = fields.Integer()
    balance = fields.Integer()
    spent_percent = fields.Float(allow_none=True, metadata={"description": "spent / allocated, %, 1 decimal"})


class CoursePlanSchema(Schema):
    course_id = fields.String()
    course_code = fields.String(allow_none=True)
    estimate_total = fields.Integer(allow_none=True)
    actual_total = fields.Integer()
    variance = fields.Integer(allow_none=True, metadata={"description": "actual − estimate"})
    released = fields.Integer(allow_none=True)
    unfunded = fields.Integer(allow_none=True)


class PlanVsActualSchema(Schema):
    fiscal_year = fields.Integer()
    budget_lines = fields.List(fields.Nested(LinePlanSchema))
    courses = fields.List(fields.Nested(CoursePlanSchema))


class BurnSchema(Schema):
    fiscal_year = fields.Integer()
    months = fields.List(fields.String(), metadata={"description": "T1 … T12"})
    series = fields.Dict(keys=fields.String(), values=fields.List(fields.Integer()),
                         metadata={"description": "source → cumulative VND at the end of each month"})


class PayeeSchema(Schema):
    no = fields.Integer()
    payee_kind = fields.String(metadata={"description": "lecturer | trainee"})
    payee_ref = fields.String(metadata={"description": "the lecturer's or civil servant's id"})
    payee_code = fields.String(allow_none=True, metadata={"description": "a trainee's staff code"})
    owner_unit_code = fields.String()
    amounts = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={"description": "item → VND"})
    total = fields.Integer()


class PayeeListSchema(Schema):
    course_id = fields.String()
    course_code = fields.String(allow_none=True)
    settlement_id = fields.String()
    items = fields.List(fields.String())
    item_labels = fields.Dict(keys=fields.String(), values=fields.String())
    payees = fields.List(fields.Nested(PayeeSchema))
    totals = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={"description": "item → VND"})
    total = fields.Integer()


class TrialBalanceAccountSchema(Schema):
    account = fields.String()
    debit = fields.Integer()
    credit = fields.Integer()
    balance = fields.Integer(metadata={"description": "debit − credit"})


class TrialBalanceSchema(Schema):
    accounts = fields.List(fields.Nested(TrialBalanceAccountSchema))
    total_debit = fields.Integer()
    total_credit = fields.Integer()


class ReversalSchema(Schema):
    journal_id = fields.String(metadata={"description": "the reversal journal"})
    reverses = fields.String(metadata={"description": "the journal it reverses"})


# --- operators -------------------------------------------------------------------------------------------------

class SeedArgsSchema(Schema):
    fiscal_year = fields.Integer(required=True, validate=validate.Range(min=2020, max=2100))
    organizer_unit_code = fields.String(load_default="CM-THOIBINH", validate=validate.Length(min=1, max=40))
    communes = fields.List(fields.String(validate=validate.Length(min=1, max=40)),
                           load_default=lambda: list(COMMUNES))


class SeedResultSchema(Schema):
    norms = fields.Integer()
    budget_lines = fields.Integer()


class VerifySchema(Schema):
    consistent = fields.Boolean()
    inconsistent_lines = fields.List(fields.Nested(BudgetLineSchema))
    total_debit = fields.Integer()
    total_credit = fields.Integer()
