"""Public HTTP API of the needs service (/api/v1): units, positions, registry, frameworks, campaigns, needs, plans,
lecturers' contacts and the officers' delivery status (issue 13)."""
from shared.web import Blueprint

from services.needs import formats, schemas, usecases
from shared import apidoc, charts
from shared.rules_api import RuleRoute, register_rules_routes
from shared.web import UploadSchema, ctx, download, read_upload, requires, respond_as, unit_scope

blp = Blueprint("needs", __name__, url_prefix="",
                description="Đơn vị hành chính, vị trí việc làm, công chức, khung năng lực, khảo sát, nhu cầu, kế hoạch")


def _within(session):
    """The caller's units on the request's day (the app's clock); None: no unit named, every unit."""
    return usecases.units_within(session, unit_scope(), ctx().today())


def _run(use_case, *args, **kwargs):
    """Call `use_case(session, *args, **kwargs)` in the request's unit of work (committed when it returns)."""
    with ctx().transaction() as session:
        return use_case(session, *args, **kwargs)


def _scoped(use_case, *args, **kwargs):
    """As _run, confined to the caller's units (`within=`: a commune officer's subtree; None for every unit)."""
    with ctx().transaction() as session:
        return use_case(session, *args, **kwargs, within=_within(session))


@blp.route("/units")
@blp.arguments(schemas.UnitQueryArgsSchema, location="query")
@blp.response(200, schemas.UnitSchema(many=True))
def list_units(args):
    """List administrative units, optionally those in force on a given day."""
    return _run(usecases.list_units, args["as_of"], args["kind"], args["parent_code"])


@blp.route("/units/<code>")
@blp.response(200, schemas.UnitDetailSchema)
def get_unit(code):
    """Show a unit with the units merged into it and the unit it merged into."""
    return _run(usecases.get_unit, code)


@blp.route("/positions")
@blp.response(200, schemas.PositionSchema(many=True))
def list_positions():
    """List the job-position catalogue."""
    return _run(usecases.list_positions)


@blp.route("/positions", methods=["POST"])
@requires("training-officer")
@blp.arguments(schemas.PositionCreateSchema)
@blp.response(201, schemas.PositionSchema)
def create_position(data):
    """Add a job position to the catalogue."""
    return _run(usecases.create_position, data)


@blp.route("/positions/<code>", methods=["PATCH"])
@requires("training-officer")
@blp.arguments(schemas.PositionUpdateSchema)
@blp.response(200, schemas.PositionSchema)
def update_position(data, code):
    """Rename, regroup or retire a job position."""
    return _run(usecases.update_position, code, data)


@blp.route("/ethnic-groups")
@blp.response(200, schemas.EthnicGroupSchema(many=True))
def list_ethnic_groups():
    """The 54 ethnic groups (QĐ 121-TCTK/PPCĐ 1979): the codes the registry stores, the other names it accepts."""
    return formats.ethnic_group_list()


@blp.route("/civil-servants", methods=["POST"])
@requires("training-officer", "commune-officer")
@blp.arguments(schemas.CivilServantCreateSchema)
@blp.response(201, schemas.CivilServantSchema)
def create_civil_servant(data):
    """Register a civil servant."""
    return _scoped(usecases.register_civil_servant, data)


@blp.route("/civil-servants")
@requires("training-officer", "commune-officer", "inspector")
@blp.arguments(schemas.CivilServantQueryArgsSchema, location="query")
@blp.response(200, schemas.CivilServantPageSchema)
def list_civil_servants(args):
    """List civil servants by former unit, today's commune or position (personal data: token required)."""
    return _scoped(usecases.list_civil_servants, **args)


@blp.route("/civil-servants/export")
@requires("training-officer", "commune-officer", "inspector")
@blp.arguments(schemas.RegistryExportArgsSchema, location="query")
@apidoc.response(blp, "csv", "xlsx")
def export_civil_servants(args):
    """Download the registry as CSV or XLSX (the columns the import reads back)."""
    rows = _scoped(usecases.export_registry, **args)  # the filters (never paged: the whole registry they select)
    return download(rows, formats.REGISTRY_COLUMNS, args["format"], **formats.REGISTRY_FILE)


@blp.route("/civil-servants/import", methods=["POST"])
@requires("training-officer", "commune-officer")
@blp.arguments(UploadSchema, location="files")
@blp.response(200, schemas.ImportResultSchema)
def import_civil_servants(files):
    """Import the registry from CSV/XLSX, all or nothing: every bad row is reported with its line and field."""
    return _scoped(usecases.import_registry, *read_upload(files))  # a TableError: rolled back, 422 (shared/web.py)


@blp.route("/civil-servants/<cs_id>")
@requires("training-officer", "commune-officer", "inspector")
@blp.response(200, schemas.CivilServantSchema)
def get_civil_servant(cs_id):
    """Show one civil servant (personal data: token required)."""
    return _scoped(usecases.get_civil_servant, cs_id)


@blp.route("/civil-servants/<cs_id>", methods=["PATCH"])
@requires("training-officer", "commune-officer")
@blp.arguments(schemas.CivilServantUpdateSchema)
@blp.response(200, schemas.CivilServantSchema)
def update_civil_servant(data, cs_id):
    """Change registry fields (unit, position, qualifications, flags, status); publishes civil_servant_updated."""
    return _scoped(usecases.update_civil_servant, cs_id, data)


@blp.route("/civil-servants/<cs_id>/leave", methods=["POST"])
@requires("training-officer", "commune-officer")
@blp.arguments(schemas.CivilServantLeaveSchema)
@blp.response(200, schemas.CivilServantSchema)
def leave_civil_servant(data, cs_id):
    """Record that a civil servant left (retired, resigned, …); publishes civil_servant_left."""
    return _scoped(usecases.leave_civil_servant, cs_id, data)


@blp.route("/civil-servants/<cs_id>/competencies")
@requires("training-officer", "commune-officer", "inspector")
@blp.response(200, schemas.ProfileSchema)
def competency_profile(cs_id):
    """Show a civil servant's current level per competency against the position, and the full history."""
    return _scoped(usecases.competency_profile, cs_id)


@blp.route("/frameworks")
@blp.response(200, schemas.FrameworkSchema(many=True))
def list_frameworks():
    """List the competency framework versions."""
    return _run(usecases.list_frameworks)


@blp.route("/frameworks", methods=["POST"])
@requires("training-officer")
@blp.arguments(schemas.FrameworkCreateSchema)
@blp.response(201, schemas.FrameworkSchema)
def create_framework(data):
    """Create a new framework version (copy one, change competencies or required levels); old ones stay."""
    return _run(usecases.create_framework_version, data)


@blp.route("/frameworks/<int:framework_id>")
@blp.response(200, schemas.FrameworkDetailSchema)
def get_framework(framework_id):
    """Show a framework version: competencies with their 5 levels and the required level per position."""
    return _run(usecases.get_framework, framework_id)


@blp.route("/campaigns", methods=["POST"])
@requires("training-officer")
@blp.arguments(schemas.CampaignCreateSchema)
@blp.response(201, schemas.CampaignSchema)
def open_campaign(data):
    """Open a survey campaign (year, communes, deadline) over the current framework."""
    return _run(usecases.open_campaign, data)


@blp.route("/campaigns")
@blp.response(200, schemas.CampaignSchema(many=True))
def list_campaigns():
    """List survey campaigns, newest first."""
    return _run(usecases.list_campaigns)


@blp.route("/campaigns/<campaign_id>")
@blp.response(200, schemas.CampaignSchema)
def get_campaign(campaign_id):
    """Show one survey campaign."""
    return _run(usecases.get_campaign, campaign_id)


@blp.route("/campaigns/<campaign_id>/responses", methods=["POST"])
@requires("training-officer", "commune-officer")
@blp.arguments(schemas.ResponseCreateSchema)
@blp.response(200, schemas.ResponseSchema)
def submit_response(data, campaign_id):
    """Submit a self-assessment (with wishes) or a supervisor assessment for one civil servant (of your units)."""
    return _scoped(usecases.submit_response, campaign_id, data)


@blp.route("/campaigns/<campaign_id>/progress")
@requires("training-officer", "commune-officer", "inspector")
@blp.response(200, schemas.ProgressSchema)
def campaign_progress(campaign_id):
    """Progress per commune and who has not answered yet, in your units (personal data: token required)."""
    return _scoped(usecases.campaign_progress, campaign_id)


@blp.route("/campaigns/<campaign_id>/close", methods=["POST"])
@requires("training-officer")
@blp.arguments(schemas.CloseArgsSchema, location="query")
@blp.response(200, schemas.CloseResultSchema)
@blp.alt_response(202, schema=schemas.CloseResultSchema, description="queued: the worker computes the needs")
def close_campaign(args, campaign_id):
    """Close a campaign and compute the needs: at once when small (200), else as a worker job (202)."""
    limit = 0 if args["background"] else ctx().settings.close_inline_limit
    with ctx().transaction() as session:
        result, queued = usecases.request_close(session, campaign_id, inline_limit=limit,
                                                lanes=ctx().settings.close_lanes)
        return (result, 202) if queued else result


@blp.route("/needs")
@requires("training-officer", "commune-officer", "inspector")
@blp.arguments(schemas.NeedQueryArgsSchema, location="query")
@blp.response(200, schemas.NeedPageSchema)
def list_needs(args):
    """List needs (highest priority first) with the reasons of each priority score."""
    return _scoped(usecases.list_needs, **args)


@blp.route("/plans", methods=["POST"])
@requires("training-officer")
@blp.arguments(schemas.PlanCreateSchema)
@blp.response(201, schemas.PlanDetailSchema)
def create_plan(data):
    """Draft a yearly plan of the 2025–2030 scheme, its lines drafted from the open needs."""
    return _run(usecases.create_plan, data)


@blp.route("/plans")
@blp.arguments(schemas.PlanQueryArgsSchema, location="query")
@blp.response(200, schemas.PlanSchema(many=True))
def list_plans(args):
    """List plans, newest first."""
    return _run(usecases.list_plans, args["year"])


@blp.route("/plans/<plan_id>")
@requires("training-officer", "finance-officer", "inspector")
@blp.response(200, schemas.PlanDetailSchema)
def get_plan(plan_id):
    """Show a plan with its lines, named candidates and targets."""
    return _run(usecases.get_plan, plan_id)


@blp.route("/plans/<plan_id>", methods=["DELETE"])
@requires("training-officer")
@blp.response(204)
def delete_plan(plan_id):
    """Discard a draft plan; the needs it held can be planned again."""
    _run(usecases.delete_plan, plan_id)


@blp.route("/plans/<plan_id>/lines", methods=["POST"])
@requires("training-officer")
@blp.arguments(schemas.PlanLineCreateSchema)
@blp.response(201, schemas.PlanLineSchema)
def add_plan_line(data, plan_id):
    """Add a line (topic × commune × position, head-count, named civil servants) to a draft plan."""
    return _run(usecases.add_plan_line, plan_id, data)


@blp.route("/plans/<plan_id>/targets", methods=["POST"])
@requires("training-officer")
@blp.arguments(schemas.TargetsSchema)
@blp.response(200, schemas.PlanDetailSchema)
def set_plan_targets(data, plan_id):
    """Replace the per-commune targets (share of civil servants trained) of a draft plan."""
    return _run(usecases.set_plan_targets, plan_id, data["targets"])


@blp.route("/plans/<plan_id>/submit", methods=["POST"])
@requires("training-officer")
@blp.response(200, schemas.PlanSchema)
def submit_plan(plan_id):
    """Submit a draft plan for approval."""
    return _run(usecases.submit_plan, plan_id)


@blp.route("/plans/<plan_id>/approve", methods=["POST"])
@requires("training-officer")
@blp.arguments(schemas.ApproveSchema)
@blp.response(200, schemas.PlanSchema)
def approve_plan(data, plan_id):
    """Approve a submitted plan; publishes needs.plan_approved (courses proposes classes from it)."""
    return _run(usecases.approve_plan, plan_id, data)


@blp.route("/plans/<plan_id>/return", methods=["POST"])
@requires("training-officer")
@blp.arguments(schemas.ReturnSchema)
@blp.response(200, schemas.PlanSchema)
def return_plan(data, plan_id):
    """Send a submitted plan back to draft with the reason."""
    return _run(usecases.return_plan, plan_id, data)


@blp.route("/lecturer-contacts/<lecturer_id>")
@requires("training-officer", "inspector")
@blp.response(200, schemas.LecturerContactSchema)
def get_lecturer_contact(lecturer_id):
    """Show a lecturer's contact, by courses' lecturer id (personal data: token required)."""
    return _run(usecases.get_lecturer_contact, lecturer_id)


@blp.route("/lecturer-contacts/<lecturer_id>", methods=["PUT"])
@requires("training-officer")
@blp.arguments(schemas.LecturerContactSetSchema)
@blp.response(200, schemas.LecturerContactSchema)
def set_lecturer_contact(data, lecturer_id):
    """Create or replace a lecturer's contact (e-mail, phone, preferred channel) for their notices (issue 13)."""
    return _run(usecases.set_lecturer_contact, lecturer_id, data)


@blp.route("/deliveries")
@requires("training-officer", "commune-officer", "inspector")
@blp.arguments(schemas.DeliveryStatusArgsSchema, location="query")
@blp.response(200, schemas.DeliveryStatusSchema)
def delivery_status(args):
    """What became of the messages of a course (course_id) or a person (recipient_id), in your units; masked."""
    return _scoped(usecases.delivery_status, **args)


register_rules_routes(
    blp, writer_role="training-officer",
    in_force=RuleRoute(usecases.list_rules_in_force, answer=schemas.RuleSchema(many=True),
                       doc="List every rule kind with the version in force today and its legal basis."),
    versions=RuleRoute(
        usecases.list_rule_versions, answer=schemas.RuleSchema(many=True),
        doc="List every version of a rule kind (combination, priority-weights, standards, quiet-hours), oldest "
            "first."),
    add=RuleRoute(
        usecases.add_rule_version, reads=schemas.RuleCreateSchema, answer=schemas.RuleSchema, status=201,
        doc="Add a version of a rule from a date (an earlier open-ended one ends the day before; other overlaps: "
            "409)."))


@blp.route("/reports/needs")
@blp.arguments(schemas.RollupArgsSchema, location="query")
@apidoc.response(blp, "json", "csv", "xlsx", rows=True)
def report_needs(args):
    """Needs by topic / commune / position (/ province): counts, mandatory, mean priority; JSON, CSV or XLSX."""
    with ctx().transaction() as session:
        rows = usecases.needs_rollup(session, group_by=args["group_by"], statuses=tuple(args["status"]), **{
            key: args[key] for key in ("province_code", "commune_code", "topic_code", "unit_code")})
    return respond_as(args["format"], rows, formats.rollup_columns(args["group_by"]),
                      **formats.report_options(formats.ROLLUP_FILE))


@blp.route("/reports/needs/chart")
@blp.arguments(schemas.NeedsChartArgsSchema, location="query")
@apidoc.response(blp, "svg", "png")
def chart_needs(args):
    """Bar chart of open and planned needs per topic, as SVG or PNG."""
    with ctx().transaction() as session:
        rows = usecases.needs_rollup(session, group_by=["topic_code"], province_code=args["province_code"],
                                     commune_code=args["commune_code"])
    return charts.chart_response(charts.bar_chart(**formats.needs_chart(rows), fmt=args["format"]), args["format"])


@blp.route("/reports/plan-coverage/chart")
@blp.arguments(schemas.CoverageChartArgsSchema, location="query")
@apidoc.response(blp, "svg", "png")
def chart_plan_coverage(args):
    """Bar chart per commune of the plan's target, planned and trained people, as SVG or PNG."""
    chart = formats.coverage_chart(_run(usecases.plan_coverage, args["plan_id"]))
    return charts.chart_response(charts.bar_chart(**chart, fmt=args["format"]), args["format"])


@blp.route("/reports/plan-coverage")
@blp.arguments(schemas.CoverageArgsSchema, location="query")
@apidoc.response(blp, "json", "csv", "xlsx", rows=True)
def report_plan_coverage(args):
    """Coverage of a plan per commune: planned vs trained vs target; JSON, CSV or XLSX."""
    rows = _run(usecases.plan_coverage, args["plan_id"])
    return respond_as(args["format"], rows, formats.COVERAGE_COLUMNS, **formats.report_options(formats.COVERAGE_FILE))


@blp.route("/reports/below-standard")
@requires("training-officer", "commune-officer", "inspector")
@blp.arguments(schemas.BelowStandardArgsSchema, location="query")
@apidoc.response(blp, "json", "csv", "xlsx", rows=True)
def report_below_standard(args):
    """Civil servants not meeting their position's standard (personal data: token required); JSON, CSV or XLSX."""
    rows = _scoped(usecases.below_standard, **args)
    return respond_as(args["format"], rows, formats.BELOW_COLUMNS, **formats.report_options(formats.BELOW_FILE))
