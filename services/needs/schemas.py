"""HTTP contract of the needs service."""
from marshmallow import Schema, fields, pre_dump, validate
from webargs.fields import DelimitedList

from services.needs import domain, formats
from shared.web import MAX_PATH_INT as MAX_ROW_ID  # a row key: what PostgreSQL's integer holds

MAX_PAGE = 1_000_000  # far past the last page of a national registry; page × size stays a bigint


class UnitSchema(Schema):
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    province_code = fields.String()
    parent_code = fields.String(allow_none=True)
    valid_from = fields.Date()
    valid_to = fields.Date(allow_none=True)


class SuccessionSchema(Schema):
    predecessor_code = fields.String()
    successor_code = fields.String()
    effective_date = fields.Date()
    legal_basis = fields.String()


class UnitDetailSchema(Schema):
    unit = fields.Nested(UnitSchema)
    predecessors = fields.List(fields.Nested(SuccessionSchema))
    successors = fields.List(fields.Nested(SuccessionSchema))


class UnitQueryArgsSchema(Schema):
    as_of = fields.Date(load_default=None, metadata={"description": "units in force on this day"})
    kind = fields.String(load_default=None, validate=validate.OneOf(["xa", "phuong", "thi_tran", "huyen", "tinh", "all"]),
                         metadata={"description": "unit level (default: commune level xa/phuong/thi_tran)"})
    parent_code = fields.String(load_default=None)


_not_blank = validate.Regexp(r".*\S", error="Không được để trống.")
_code = [validate.Length(min=1, max=40), _not_blank]


class NewUnitSchema(Schema):
    code = fields.String(required=True, validate=_code)
    name = fields.String(required=True, validate=[validate.Length(min=1, max=200), _not_blank])
    kind = fields.String(required=True, validate=validate.OneOf(["xa", "phuong", "thi_tran"]))
    parent_code = fields.String(load_default=None, validate=validate.Length(max=40))
    province_code = fields.String(load_default=None, validate=validate.Length(max=20))


class SuccessionInSchema(Schema):
    predecessor_code = fields.String(required=True, validate=_code)
    successor_code = fields.String(required=True, validate=_code)


class ReorganisationSchema(Schema):
    decision_no = fields.String(required=True, validate=[validate.Length(min=1, max=200), _not_blank])
    effective_date = fields.Date(required=True)
    new_units = fields.List(fields.Nested(NewUnitSchema), load_default=list)
    successions = fields.List(fields.Nested(SuccessionInSchema), required=True, validate=validate.Length(min=1))


class ReorganisationOutSchema(Schema):
    id = fields.String()
    decision_no = fields.String()
    effective_date = fields.Date()
    created_at = fields.AwareDateTime()


class PositionSchema(Schema):
    code = fields.String()
    name = fields.String()
    legacy = fields.Boolean()
    category = fields.String()
    active = fields.Boolean()


class PositionCreateSchema(Schema):
    code = fields.String(required=True, validate=_code)
    name = fields.String(required=True, validate=[validate.Length(min=1, max=300), _not_blank])
    category = fields.String(load_default="professional", validate=validate.OneOf(["leadership", "professional"]))
    legacy = fields.Boolean(load_default=False)


class PositionUpdateSchema(Schema):
    name = fields.String(validate=[validate.Length(min=1, max=300), _not_blank])
    category = fields.String(validate=validate.OneOf(["leadership", "professional"]))
    active = fields.Boolean()
    legacy = fields.Boolean()


class ContactSchema(Schema):
    """How to reach the person and their direct supervisor (issue 13). Personal data: API token, never logged."""

    email = fields.String(allow_none=True, validate=validate.Length(max=254))
    phone = fields.String(allow_none=True, validate=validate.Length(max=20),
                          metadata={"description": "Vietnamese number, 0912345678 or 84912345678"})
    preferred_channel = fields.String(load_default="email", validate=validate.OneOf(["email", "sms", "zalo"]))
    supervisor_id = fields.String(allow_none=True, validate=validate.Length(max=36),
                                  metadata={"description": "the direct supervisor, a registered civil servant"})
    supervisor_position_code = fields.String(allow_none=True, validate=validate.Length(max=40), metadata={
        "description": "else: the holder of this position in the person's commune (e.g. LD-CT-UBND)"})
    legal_basis = fields.String(dump_only=True, metadata={"description": "Law 91/2025/QH15 basis of processing"})
    updated_at = fields.AwareDateTime(dump_only=True)


class _RegistryFields(Schema):
    contact = fields.Nested(ContactSchema, allow_none=True, metadata={
        "description": "replaces the stored contact when given (issue 13)"})
    full_name = fields.String(validate=[validate.Length(min=1, max=200), _not_blank])
    gender = fields.String(validate=validate.OneOf(["female", "male"]))
    birth_year = fields.Integer(strict=True, validate=validate.Range(min=1940, max=2010))
    ethnicity = fields.String(validate=[validate.Length(min=1, max=60), _not_blank], metadata={
        "description": "a code 01–54 or a name of GET /api/v1/ethnic-groups (official or other, as typed: case, "
                       "accents' composition, spaces and hyphens do not count); stored as the code"})
    ethnic_minority = fields.Boolean(metadata={"description": "derived from ethnicity (all but 01 Kinh); if given, "
                                                              "it must agree (422 otherwise)"})
    unit_code = fields.String(validate=_code)
    position_code = fields.String(validate=_code)
    hard_area = fields.Boolean()
    child_under_36_months = fields.Boolean()
    rank = fields.String(allow_none=True, validate=validate.Length(max=60))
    degree_level = fields.String(allow_none=True, validate=validate.OneOf(domain.DEGREE_SCALE))
    major = fields.String(allow_none=True, validate=validate.Length(max=200))
    llct_level = fields.String(allow_none=True, validate=validate.OneOf(domain.LLCT_SCALE))
    qlnn_level = fields.String(allow_none=True, validate=validate.OneOf(domain.QLNN_SCALE))
    it_level = fields.String(allow_none=True, validate=validate.OneOf(domain.IT_SCALE))
    foreign_language_level = fields.String(allow_none=True, validate=validate.OneOf(domain.LANGUAGE_SCALE))
    employed_from = fields.Date(allow_none=True)


class CivilServantCreateSchema(_RegistryFields):
    code = fields.String(required=True, validate=_code)
    full_name = fields.String(required=True, validate=[validate.Length(min=1, max=200), _not_blank])
    gender = fields.String(required=True, validate=validate.OneOf(["female", "male"]))
    birth_year = fields.Integer(required=True, strict=True, validate=validate.Range(min=1940, max=2010))
    ethnicity = fields.String(required=True, validate=[validate.Length(min=1, max=60), _not_blank],
                              metadata=_RegistryFields._declared_fields["ethnicity"].metadata)
    unit_code = fields.String(required=True, validate=_code)
    position_code = fields.String(required=True, validate=_code)
    hard_area = fields.Boolean(load_default=False)
    child_under_36_months = fields.Boolean(load_default=False)
    employment_status = fields.String(load_default="active", validate=validate.OneOf(["active", "on_leave"]))


class CivilServantUpdateSchema(_RegistryFields):
    employment_status = fields.String(validate=validate.OneOf(["active", "on_leave"]))
    status_since = fields.Date(metadata={"description": "when the new employment status started (default today)"})


class CivilServantLeaveSchema(Schema):
    left_on = fields.Date(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(
        ["retired", "resigned", "transferred", "dismissed", "deceased", "other"]))


class CivilServantSchema(CivilServantCreateSchema):
    id = fields.String()
    ethnicity = fields.String(allow_none=True, metadata={
        "description": "the group's official name (null: a value migration 0004 could not read, to be entered)"})
    ethnicity_code = fields.String(allow_none=True, metadata={"description": "01–54, GET /api/v1/ethnic-groups"})
    ethnic_minority = fields.Boolean(metadata={"description": "derived from the ethnicity: every group but 01 Kinh"})
    commune_code = fields.String(metadata={"description": "today's commune (after the 2025-07-01 merger)"})
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime(allow_none=True)
    employment_status = fields.String()
    status_since = fields.Date(allow_none=True)
    left_on = fields.Date(allow_none=True)
    left_reason = fields.String(allow_none=True)

    @pre_dump
    def _with_commune(self, obj, **kwargs):
        """The registry use cases answer a CivilServantView: the civil servant and today's commune."""
        if not hasattr(obj, "civil_servant"):
            return obj
        cs = obj.civil_servant
        return {**{name: getattr(cs, name) for name in self.fields if hasattr(cs, name)},
                "commune_code": obj.commune_code, "ethnicity": formats.ETHNIC_GROUPS.get(cs.ethnicity_code)}


class PageArgsSchema(Schema):
    """The paging query arguments of a list (the page numbers from 1, up to 500 items a page)."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class EthnicGroupSchema(Schema):
    code = fields.String(metadata={"description": "Mã dân tộc, QĐ 121-TCTK/PPCĐ ngày 2/3/1979 (01 Kinh … 54 Ơ Đu)"})
    name = fields.String()
    other_names = fields.List(fields.String(), metadata={"description": "also accepted as input (e.g. Việt, Khmer)"})
    ethnic_minority = fields.Boolean()


class CivilServantQueryArgsSchema(PageArgsSchema):
    unit_code = fields.String(load_default=None, metadata={"description": "the unit registered (may be former)"})
    commune_code = fields.String(load_default=None, metadata={"description": "today's commune"})
    position_code = fields.String(load_default=None)
    employment_status = fields.String(load_default=None, validate=validate.OneOf(["active", "on_leave", "left"]))


class RegistryExportArgsSchema(CivilServantQueryArgsSchema):
    class Meta:
        exclude = ("page", "page_size")  # the whole (filtered) registry, never a page of it

    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


class CivilServantPageSchema(Schema):
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()
    items = fields.List(fields.Nested(CivilServantSchema))


class ImportResultSchema(Schema):
    rows = fields.Integer()
    registered = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()


# --- competency framework ------------------------------------------------------------------------------------------

class CompetencySchema(Schema):
    code = fields.String(required=True, validate=[validate.Length(min=1, max=20), _not_blank])
    name = fields.String(required=True, validate=[validate.Length(min=1, max=300), _not_blank])
    category = fields.String(required=True, validate=validate.OneOf(["common", "professional", "leadership"]))
    topic_code = fields.String(required=True, validate=_code)
    levels = fields.List(fields.String(validate=validate.Length(min=1, max=500)), required=True,
                         validate=validate.Length(equal=5), metadata={"description": "5 level descriptions"})


class RequirementSchema(Schema):
    position_code = fields.String(required=True, validate=_code)
    competency_code = fields.String(required=True, validate=[validate.Length(min=1, max=20), _not_blank])
    required_level = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))


class FrameworkCreateSchema(Schema):
    code = fields.String(required=True, validate=_code)
    name = fields.String(required=True, validate=[validate.Length(min=1, max=300), _not_blank])
    valid_from = fields.Date(required=True)
    legal_basis = fields.String(required=True, validate=[validate.Length(min=1, max=300), _not_blank])
    copy_from = fields.Integer(load_default=None, strict=True, validate=validate.Range(min=1, max=MAX_ROW_ID),
                               metadata={"description": "id of the version to start from"})
    competencies = fields.List(fields.Nested(CompetencySchema), load_default=list)
    requirements = fields.List(fields.Nested(RequirementSchema), load_default=list)


class FrameworkSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    valid_from = fields.Date()
    legal_basis = fields.String()


class FrameworkDetailSchema(Schema):
    framework = fields.Nested(FrameworkSchema)
    competencies = fields.List(fields.Nested(CompetencySchema))
    requirements = fields.List(fields.Nested(RequirementSchema))


# --- surveys -------------------------------------------------------------------------------------------------------

class CampaignCreateSchema(Schema):
    year = fields.Integer(required=True, strict=True, validate=validate.Range(min=2025, max=2030))
    title = fields.String(required=True, validate=[validate.Length(min=1, max=300), _not_blank])
    unit_codes = fields.List(fields.String(validate=_code), required=True, validate=validate.Length(min=1),
                             metadata={"description": "today's communes surveyed"})
    deadline = fields.Date(required=True)
    framework_id = fields.Integer(load_default=None, strict=True, validate=validate.Range(min=1, max=MAX_ROW_ID))


class CloseJobSchema(Schema):
    status = fields.String(metadata={"description": "queued | running | done | failed"})
    people_total = fields.Integer()
    people_done = fields.Integer()
    needs = fields.Integer()
    competency_gap = fields.Integer()
    standard = fields.Integer()
    attempts = fields.Integer()
    error = fields.String(allow_none=True)
    lanes = fields.Integer(metadata={"description": "lanes of people computed side by side (0: closed inline)"})
    created_at = fields.AwareDateTime()
    started_at = fields.AwareDateTime(allow_none=True)
    heartbeat_at = fields.AwareDateTime(allow_none=True)
    finished_at = fields.AwareDateTime(allow_none=True)


class CampaignSchema(Schema):
    id = fields.String()
    year = fields.Integer()
    title = fields.String()
    unit_codes = fields.List(fields.String())
    deadline = fields.Date()
    framework_id = fields.Integer()
    status = fields.String()
    combination = fields.Dict(allow_none=True)
    created_at = fields.AwareDateTime()
    closed_at = fields.AwareDateTime(allow_none=True)
    close_job = fields.Nested(CloseJobSchema, allow_none=True,
                              metadata={"description": "progress of closing (computing the needs)"})


class CloseArgsSchema(Schema):
    background = fields.Boolean(load_default=False, metadata={
        "description": "queue the computation for the worker (202) even for a small campaign; large campaigns "
                       "always are"})


class ResponseCreateSchema(Schema):
    civil_servant_id = fields.String(required=True, validate=[validate.Length(min=1, max=36), _not_blank])
    role = fields.String(required=True, validate=validate.OneOf(["self", "supervisor"]))
    levels = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=20)),
                         values=fields.Integer(strict=True, validate=validate.Range(min=1, max=5)), required=True,
                         metadata={"description": "level 1–5 per competency code, e.g. {\"CM06\": 2}"})
    wished_topics = fields.List(fields.String(validate=validate.Length(min=1, max=40)), load_default=None,
                                metadata={"description": "nguyện vọng: topic codes wished (self only)"})
    wish_text = fields.String(load_default=None, validate=validate.Length(max=2000))
    preferred_form = fields.String(load_default=None, validate=validate.OneOf(["in_person", "online", "blended",
                                                                               "field_trip"]))
    preferred_time = fields.String(load_default=None, validate=validate.Length(max=100))


class ResponseSchema(Schema):
    campaign_id = fields.String()
    civil_servant_id = fields.String()
    commune_code = fields.String()
    self_submitted_at = fields.AwareDateTime(allow_none=True)
    supervisor_submitted_at = fields.AwareDateTime(allow_none=True)
    wished_topics = fields.List(fields.String(), allow_none=True)
    wish_text = fields.String(allow_none=True)
    preferred_form = fields.String(allow_none=True)
    preferred_time = fields.String(allow_none=True)


class MissingSchema(Schema):
    civil_servant_id = fields.String()
    code = fields.String()
    full_name = fields.String()
    self_missing = fields.Boolean()
    supervisor_missing = fields.Boolean()


class UnitProgressSchema(Schema):
    commune_code = fields.String()
    expected = fields.Integer()
    self_done = fields.Integer()
    supervisor_done = fields.Integer()
    complete = fields.Integer()
    complete_share = fields.Float(allow_none=True)
    missing = fields.List(fields.Nested(MissingSchema))


class ProgressSchema(Schema):
    campaign_id = fields.String()
    status = fields.String()
    deadline = fields.Date()
    units = fields.List(fields.Nested(UnitProgressSchema))


class CloseResultSchema(Schema):
    campaign_id = fields.String()
    status = fields.String(metadata={"description": "closed (computed in the request) | closing (queued job)"})
    job = fields.Nested(CloseJobSchema)
    combination = fields.Dict()
    people = fields.Integer()
    needs = fields.Integer()
    competency_gap = fields.Integer()
    standard = fields.Integer()


# --- competency record and needs ------------------------------------------------------------------------------------

class RecordSchema(Schema):
    competency_code = fields.String()
    level = fields.Integer()
    source = fields.String()
    source_ref = fields.String()
    assessed_at = fields.AwareDateTime()


class CurrentLevelSchema(Schema):
    competency_code = fields.String()
    level = fields.Integer()
    required_level = fields.Integer(allow_none=True)
    gap = fields.Integer()
    source = fields.String()
    assessed_at = fields.AwareDateTime()


class ProfileSchema(Schema):
    civil_servant_id = fields.String()
    commune_code = fields.String()
    position_code = fields.String()
    current = fields.List(fields.Nested(CurrentLevelSchema))
    history = fields.List(fields.Nested(RecordSchema))


class ReasonSchema(Schema):
    code = fields.String()
    label = fields.String()
    points = fields.Float()


class NeedSchema(Schema):
    id = fields.String()
    civil_servant_id = fields.String()
    campaign_id = fields.String(allow_none=True)
    year = fields.Integer()
    kind = fields.String()
    topic_code = fields.String()
    competency_code = fields.String(allow_none=True)
    standard_code = fields.String(allow_none=True)
    required_level = fields.Integer(allow_none=True)
    assessed_level = fields.Integer(allow_none=True)
    gap = fields.Integer()
    deadline = fields.Date(allow_none=True)
    priority_score = fields.Float()
    reasons = fields.List(fields.Nested(ReasonSchema))
    status = fields.String()
    unit_code = fields.String()
    commune_code = fields.String()
    province_code = fields.String()
    position_code = fields.String()
    plan_line_id = fields.String(allow_none=True)
    met_by = fields.String(allow_none=True)
    met_at = fields.AwareDateTime(allow_none=True)


class NeedQueryArgsSchema(PageArgsSchema):
    civil_servant_id = fields.String(load_default=None)
    commune_code = fields.String(load_default=None)
    unit_code = fields.String(load_default=None, metadata={"description": "the unit registered (may be former)"})
    topic_code = fields.String(load_default=None)
    position_code = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(["open", "planned", "met"]))
    kind = fields.String(load_default=None, validate=validate.OneOf(["competency_gap", "standard"]))


class NeedPageSchema(Schema):
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()
    items = fields.List(fields.Nested(NeedSchema))


_FORMAT = fields.String(load_default="json", validate=validate.OneOf(["json", "csv", "xlsx"]))


class RollupArgsSchema(Schema):
    group_by = DelimitedList(fields.String(validate=validate.OneOf(
        ["topic_code", "commune_code", "unit_code", "position_code", "province_code"])),
        load_default=lambda: ["topic_code"],
        metadata={"description": "comma-separated: topic_code, commune_code (today's commune), unit_code (the unit "
                                 "registered, e.g. a former unit before the 2025 merger), position_code, "
                                 "province_code"})
    province_code = fields.String(load_default=None)
    commune_code = fields.String(load_default=None)
    unit_code = fields.String(load_default=None, metadata={"description": "the unit registered (may be former)"})
    topic_code = fields.String(load_default=None)
    status = DelimitedList(fields.String(validate=validate.OneOf(["open", "planned", "met"])),
                                  load_default=lambda: ["open", "planned"])
    format = _FORMAT


class NeedsChartArgsSchema(Schema):
    province_code = fields.String(load_default=None)
    commune_code = fields.String(load_default=None)
    format = fields.String(load_default="svg", validate=validate.OneOf(["svg", "png"]))


class CoverageChartArgsSchema(Schema):
    plan_id = fields.String(required=True)
    format = fields.String(load_default="svg", validate=validate.OneOf(["svg", "png"]))


class BelowStandardArgsSchema(Schema):
    commune_code = fields.String(load_default=None)
    unit_code = fields.String(load_default=None, metadata={"description": "the unit registered (may be former)"})
    format = _FORMAT


class CoverageArgsSchema(Schema):
    plan_id = fields.String(required=True)
    format = _FORMAT


# --- plans ---------------------------------------------------------------------------------------------------------

class TargetSchema(Schema):
    commune_code = fields.String(required=True, validate=_code)
    target_share = fields.Float(required=True, validate=validate.Range(min=0, max=1),
                                metadata={"description": "share of active civil servants to be trained, 0–1"})


class PlanCreateSchema(Schema):
    year = fields.Integer(required=True, strict=True, validate=validate.Range(min=2025, max=2030))
    title = fields.String(required=True, validate=[validate.Length(min=1, max=300), _not_blank])
    from_needs = fields.Boolean(load_default=True, metadata={"description": "draft lines from the open needs"})
    commune_codes = fields.List(fields.String(validate=_code), load_default=None)
    topic_codes = fields.List(fields.String(validate=_code), load_default=None)
    min_priority = fields.Float(load_default=0, validate=validate.Range(min=0))
    class_size = fields.Integer(load_default=40, strict=True, validate=validate.Range(min=5, max=200))
    by_position = fields.Boolean(load_default=False, metadata={"description": "one line per position too"})
    targets = fields.List(fields.Nested(TargetSchema), load_default=list)


class PlanLineCreateSchema(Schema):
    topic_code = fields.String(required=True, validate=_code)
    unit_code = fields.String(required=True, validate=_code, metadata={"description": "today's commune"})
    position_code = fields.String(load_default=None, validate=validate.Length(max=40))
    competency_codes = fields.List(fields.String(validate=validate.Length(min=1, max=20)), load_default=list)
    headcount = fields.Integer(load_default=None, strict=True, validate=validate.Range(min=0, max=10_000))
    quarter = fields.Integer(load_default=None, strict=True, validate=validate.Range(min=1, max=4))
    civil_servant_ids = fields.List(fields.String(validate=validate.Length(min=1, max=36)), load_default=list)


class TargetsSchema(Schema):
    targets = fields.List(fields.Nested(TargetSchema), required=True)


class ApproveSchema(Schema):
    decision_no = fields.String(required=True, validate=[validate.Length(min=1, max=200), _not_blank])


class ReturnSchema(Schema):
    reason = fields.String(required=True, validate=[validate.Length(min=1, max=2000), _not_blank])


class CandidateSchema(Schema):
    civil_servant_id = fields.String()
    commune_code = fields.String()
    priority_score = fields.Float()
    need_ids = fields.List(fields.String())


class PlanLineSchema(Schema):
    id = fields.String()
    topic_code = fields.String()
    competency_codes = fields.List(fields.String())
    unit_code = fields.String()
    position_code = fields.String(allow_none=True)
    headcount = fields.Integer()
    quarter = fields.Integer(allow_none=True)


class PlanLineDetailSchema(Schema):
    line = fields.Nested(PlanLineSchema)
    candidates = fields.List(fields.Nested(CandidateSchema))


class PlanSchema(Schema):
    id = fields.String()
    year = fields.Integer()
    scheme_code = fields.String()
    title = fields.String()
    status = fields.String()
    created_at = fields.AwareDateTime()
    submitted_at = fields.AwareDateTime(allow_none=True)
    approved_at = fields.AwareDateTime(allow_none=True)
    decision_no = fields.String(allow_none=True)
    return_reason = fields.String(allow_none=True)


class PlanDetailSchema(Schema):
    plan = fields.Nested(PlanSchema)
    targets = fields.List(fields.Nested(TargetSchema))
    lines = fields.List(fields.Nested(PlanLineDetailSchema))


class PlanQueryArgsSchema(Schema):
    year = fields.Integer(load_default=None, validate=validate.Range(min=1900, max=9999))


# --- operator: rules and seed ----------------------------------------------------------------------------------------

class RuleSchema(Schema):
    kind = fields.Function(lambda r: domain.RULE_KIND_OF.get(r.code, r.code), dump_only=True)
    code = fields.String(dump_only=True)
    valid_from = fields.Date()
    valid_to = fields.Date(allow_none=True)
    value = fields.Dict()
    legal_basis = fields.String()
    sample = fields.Boolean()


class RuleCreateSchema(Schema):
    valid_from = fields.Date(required=True)
    valid_to = fields.Date(load_default=None, allow_none=True,
                           metadata={"description": "last day in force; empty: until a later version"})
    value = fields.Dict(required=True)
    legal_basis = fields.String(required=True, validate=[validate.Length(min=1, max=300), _not_blank])
    sample = fields.Boolean(load_default=False)


# --- operator endpoints (admin.py) ---------------------------------------------------------------------------------

class SeedArgsSchema(Schema):
    civil_servants = fields.Integer(load_default=111, validate=validate.Range(min=0, max=100_000))
    survey_year = fields.Integer(load_default=None, strict=True, validate=validate.Range(min=2025, max=2030),
                                 metadata={"description": "also open that year's sample campaign with every "
                                                          "answer filled (left open, to be closed)"})


class SeedResultSchema(Schema):
    """What the seed added, per kind (`survey` only when a sample campaign was asked for)."""

    units = fields.Integer()
    successions = fields.Integer()
    positions = fields.Integer()
    frameworks = fields.Integer()
    rules = fields.Integer()
    civil_servants = fields.Integer()
    survey = fields.Dict()


# --- deliveries (issue 13): ids and statuses only, never an address ---------------------------------------------

class DeliverySchema(Schema):
    id = fields.String()
    purpose = fields.String()
    recipient_id = fields.String()
    subject_id = fields.String(allow_none=True, metadata={"description": "the trainee a supervisor's message is about"})
    course_id = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "pending | sending | sent | failed | bounced | parked | skipped "
                                                    "| unconfirmed"})
    channel = fields.String(allow_none=True)
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True, metadata={"description": "channel, reason, provider code"})
    deferred_until = fields.AwareDateTime(allow_none=True, metadata={"description": "quiet hours"})
    created_at = fields.AwareDateTime()
    sent_at = fields.AwareDateTime(allow_none=True)
    resends = fields.Integer()


class CourseDeliveriesSchema(Schema):
    course_id = fields.String()
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    by_purpose = fields.Dict(keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.Integer()))
    items = fields.List(fields.Nested(DeliverySchema))


class PersonDeliveriesSchema(Schema):
    civil_servant_id = fields.String()
    items = fields.List(fields.Nested(DeliverySchema))


class DeliveryFiguresSchema(Schema):
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    by_purpose = fields.Dict(keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.Integer()))
    jobs = fields.Dict(keys=fields.String(), values=fields.Integer())


# --- lecturers' contacts (issue 13): personal data, keyed by courses' lecturer id ----------------------------------

class LecturerContactSetSchema(Schema):
    """How to reach a lecturer (by courses' lecturer id). Personal data: token required, never logged."""

    full_name = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=200),
                              metadata={"description": "for the salutation only"})
    email = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=254))
    phone = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=20),
                          metadata={"description": "Vietnamese number, 0912345678 or 84912345678"})
    preferred_channel = fields.String(load_default="email", validate=validate.OneOf(["email", "sms", "zalo"]))


class LecturerContactSchema(LecturerContactSetSchema):
    lecturer_id = fields.String()
    legal_basis = fields.String(metadata={"description": "Law 91/2025/QH15 basis of processing"})
    updated_at = fields.AwareDateTime()


# --- officers' delivery status (issue 13): masked addresses only ---------------------------------------------------

class DeliveryStatusArgsSchema(PageArgsSchema):
    course_id = fields.String(load_default=None, validate=validate.Length(min=1, max=36))
    recipient_id = fields.String(load_default=None, validate=validate.Length(min=1, max=36), metadata={
        "description": "a civil servant's id, or courses' lecturer id"})
    status = fields.String(load_default=None, validate=validate.OneOf(
        ["pending", "sending", "sent", "failed", "bounced", "parked", "skipped", "unconfirmed"]))


class DeliveryStatusRowSchema(Schema):
    id = fields.String()
    purpose = fields.String()
    recipient_id = fields.String()
    recipient_kind = fields.String(metadata={"description": "civil_servant | lecturer"})
    subject_id = fields.String(allow_none=True, metadata={"description": "the trainee a supervisor's message is about"})
    course_id = fields.String(allow_none=True)
    status = fields.String()
    channel = fields.String(allow_none=True)
    address = fields.String(allow_none=True, metadata={"description": "masked: n***@e***.vn, 091****678"})
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    deferred_until = fields.AwareDateTime(allow_none=True, metadata={"description": "quiet hours"})
    created_at = fields.AwareDateTime()
    sent_at = fields.AwareDateTime(allow_none=True)


class DeliveryStatusSchema(Schema):
    course_id = fields.String(allow_none=True)
    recipient_id = fields.String(allow_none=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()
    items = fields.List(fields.Nested(DeliveryStatusRowSchema))
