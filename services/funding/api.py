"""Public HTTP API of the funding service (/api/v1): each view parses, makes one use-case call and answers."""
from shared.web import Blueprint

from services.funding import formats, schemas, usecases
from shared import apidoc, tabular
from shared.charts import bar_chart, chart_response, line_chart
from shared.rules_api import RuleRoute, register_rules_routes
from shared.web import UploadSchema, ctx, read_upload, requires, respond_as

blp = Blueprint("funding", __name__, url_prefix="", description="Dự toán, định mức, quyết toán, sổ cái")


# --- budget lines ----------------------------------------------------------------------------------------------

@blp.route("/budget-lines", methods=["POST"])
@requires("finance-officer")
@blp.arguments(schemas.BudgetLineCreateSchema)
@blp.response(201, schemas.BudgetLineSchema)
def create_budget_line(data):
    """Open a budget line with its allocation decision."""
    with ctx().transaction() as session:
        return usecases.create_budget_line(session, data)


@blp.route("/budget-lines")
@blp.arguments(schemas.BudgetLineQueryArgsSchema, location="query")
@blp.response(200, schemas.BudgetLineSchema(many=True))
def list_budget_lines(args):
    """List budget lines with allocated, reserved, spent and balance (computed from the ledger)."""
    with ctx().transaction() as session:
        return usecases.list_budget_lines(session, args["fiscal_year"])


@blp.route("/budget-lines/<budget_line_id>")
@blp.response(200, schemas.BudgetLineDetailSchema)
def get_budget_line(budget_line_id):
    """Show one budget line with its balances and amendments."""
    with ctx().transaction() as session:
        return usecases.get_budget_line(session, budget_line_id)


@blp.route("/budget-lines/<budget_line_id>/amendments", methods=["POST"])
@requires("finance-officer")
@blp.arguments(schemas.BudgetAmendmentCreateSchema)
@blp.response(201, schemas.BudgetAmendmentSchema)
def amend_budget_line(data, budget_line_id):
    """Amend a line's allocation by a decision (number and date); never below what is reserved and spent."""
    with ctx().transaction() as session:
        return usecases.amend_budget_line(session, budget_line_id, data)


# --- rules: one URL family in every service, /api/v1/rules[/<kind>] (shared/rules_api.py); funding's one kind is
# cost-norms, with a CSV/XLSX listing and an import -------------------------------------------------------------

def _rules_in_force(session):
    return usecases.list_rules(session, province_code=ctx().settings.province_code)


def _list_norms(session, args):
    norms = usecases.list_norms(session, args["item"], args["on"])
    if args["format"] == "json":
        return norms
    return respond_as(args["format"], formats.norm_rows(norms), formats.NORM_COLUMNS, "dinh-muc-chi",
                      **formats.NORM_SHEET)


def _import_norms(session, files):
    # Bad cells and the use case's checks of every row are refused together (TableError, the shared handler).
    errors = tabular.RowErrors()
    rows = formats.read_norms(*read_upload(files), errors)
    return usecases.import_norms(session, rows, errors)


register_rules_routes(
    blp, writer_role="finance-officer",
    in_force=RuleRoute(_rules_in_force, answer=schemas.RuleKindSchema(many=True),
                       doc="List every rule kind with the versions in force today and their legal basis."),
    routes={
        "POST cost-norms": RuleRoute(
            usecases.create_norm, reads=schemas.CostNormCreateSchema, answer=schemas.CostNormSchema, status=201,
            doc="Add a version of a cost norm with its legal basis and validity dates (supersedes an open-ended "
                "earlier one)."),
        "GET cost-norms": RuleRoute(
            _list_norms, reads=schemas.CostNormQueryArgsSchema, location="query",
            answer=schemas.CostNormSchema(many=True), apidoc=apidoc.answers("csv", "xlsx"),
            doc="List the cost norm versions, optionally those in force on a day; CSV or XLSX with the import's "
                "columns."),
        "POST cost-norms/import": RuleRoute(
            _import_norms, reads=UploadSchema, location="files", answer=schemas.ImportResultSchema, status=201,
            doc="Import cost norms from a CSV/XLSX file (multipart field `file`); all rows or none, errors by line "
                "and field;\na row starting after an open-ended version supersedes it."),
    })


# --- estimate, settlement, payees ------------------------------------------------------------------------------

@blp.route("/courses/<course_id>/estimate")
@requires("training-officer", "finance-officer", "inspector")
@blp.response(200, schemas.EstimateSchema)
def get_estimate(course_id):
    """Show a course's latest estimate per item and source, and its reservation state."""
    with ctx().transaction() as session:
        return usecases.get_estimate(session, course_id)


@blp.route("/settlements/<course_id>")
@requires("training-officer", "finance-officer", "inspector")
@blp.response(200, schemas.SettlementSchema)
def get_settlement(course_id):
    """Show a course's settlement with its lines, estimate, variance and released amount."""
    with ctx().transaction() as session:
        return usecases.get_settlement(session, course_id)


@blp.route("/settlements/<course_id>/payees")
@requires("training-officer", "finance-officer", "inspector")
@blp.arguments(schemas.PayeeArgsSchema, location="query")
@blp.response(200, schemas.PayeeListSchema)
@blp.doc(**apidoc.answers("csv", "xlsx"))
def payees(args, course_id):
    """The payee list to sign ("Ký nhận"): amount per item per payee and totals, as JSON, CSV or XLSX."""
    with ctx().transaction() as session:
        sheet = usecases.get_payee_list(session, course_id)
    return respond_as(args["format"], formats.payee_rows(sheet), formats.payee_columns(sheet),
                      json_body=sheet, **formats.payee_sheet(sheet))


# --- ledger ----------------------------------------------------------------------------------------------------

@blp.route("/ledger")
@blp.arguments(schemas.LedgerQueryArgsSchema, location="query")
@blp.response(200, schemas.LedgerEntrySchema(many=True))
def ledger(args):
    """List ledger entries, by course or account."""
    with ctx().transaction() as session:
        return usecases.list_ledger_entries(session, args["course_id"], args["account"], args["limit"])


@blp.route("/ledger/trial-balance")
@blp.response(200, schemas.TrialBalanceSchema)
def trial_balance():
    """Debits, credits and balance per account, from the entries alone."""
    with ctx().transaction() as session:
        return usecases.trial_balance(session)


@blp.route("/ledger/journals/<journal_id>/reverse", methods=["POST"])
@requires("finance-officer")
@blp.arguments(schemas.ReverseJournalSchema)
@blp.response(201, schemas.ReversalSchema)
def reverse_journal(data, journal_id):
    """Correct an allocation or amendment journal by posting its reversal (nothing is edited or deleted)."""
    with ctx().transaction() as session:
        return usecases.reverse_journal(session, journal_id, data["reason"])


# --- incentives and degree-training commitments ----------------------------------------------------------------

@blp.route("/incentives")
@requires("training-officer", "finance-officer", "inspector")
@blp.arguments(schemas.CourseArgsSchema, location="query")
@blp.response(200, schemas.IncentiveSchema(many=True))
def incentives(args):
    """List rewards paid to excellent learners, optionally for one course."""
    with ctx().transaction() as session:
        return usecases.list_incentives(session, args["course_id"])


@blp.route("/degree-commitments", methods=["POST"])
@requires("finance-officer")
@blp.arguments(schemas.CommitmentCreateSchema)
@blp.response(201, schemas.CommitmentSchema)
def create_commitment(data):
    """Record a degree-training commitment (service time ≥ the multiplier norm × training time)."""
    with ctx().transaction() as session:
        return usecases.create_commitment(session, data, province_code=ctx().settings.province_code)


@blp.route("/degree-commitments")
@requires("finance-officer", "inspector")
@blp.arguments(schemas.CivilServantArgsSchema, location="query")
@blp.response(200, schemas.CommitmentSchema(many=True))
def list_commitments(args):
    """List degree-training commitments, optionally of one civil servant."""
    with ctx().transaction() as session:
        return usecases.list_commitments(session, args["civil_servant_id"])


@blp.route("/receivables")
@requires("finance-officer", "inspector")
@blp.arguments(schemas.CivilServantArgsSchema, location="query")
@blp.response(200, schemas.ReceivableSchema(many=True))
def list_receivables(args):
    """List repayment receivables opened when a committed civil servant left early."""
    with ctx().transaction() as session:
        return usecases.list_receivables(session, args["civil_servant_id"])


# --- reports ---------------------------------------------------------------------------------------------------

@blp.route("/reports/spending")
@blp.arguments(schemas.SpendingArgsSchema, location="query")
@blp.response(200, schemas.SpendingReportSchema)
@blp.doc(**apidoc.answers("csv", "xlsx", "svg", "png"))
def spending_report(args):
    """Actual spending by source, item, commune, course or year, as JSON, CSV, XLSX or a bar chart (SVG/PNG)."""
    with ctx().transaction() as session:
        report = usecases.spending_report(session, args["group_by"], args["fiscal_year"])
    fmt, rows = args["format"], report["rows"]
    if fmt in ("svg", "png"):
        body = bar_chart([r["label"] for r in rows], {"Đã chi": [r["amount"] for r in rows]}, ylabel="Đồng",
                         title=formats.spending_chart_title(args["group_by"], args["fiscal_year"]), fmt=fmt,
                         horizontal=True)
        return chart_response(body, fmt)
    return respond_as(fmt, rows, formats.SPENDING_COLUMNS, f"chi-theo-{args['group_by']}", json_body=report,
                      title="Chi tiêu", heading=formats.spending_heading(args["group_by"]))


@blp.route("/reports/plan-vs-actual")
@blp.arguments(schemas.PlanArgsSchema, location="query")
@blp.response(200, schemas.PlanVsActualSchema)
@blp.doc(**apidoc.answers("csv", "xlsx"))
def plan_vs_actual(args):
    """Plan (allocated) against actual (spent) per budget line of a year, and per course; JSON, CSV or XLSX."""
    with ctx().transaction() as session:
        report = usecases.plan_vs_actual(session, args["fiscal_year"])
    return respond_as(args["format"], report["budget_lines"], formats.PLAN_COLUMNS,
                      f"du-toan-thuc-hien-{args['fiscal_year']}", json_body=report, title="Dự toán-thực hiện",
                      heading=f"DỰ TOÁN VÀ THỰC HIỆN NĂM {args['fiscal_year']}")


@blp.route("/reports/burn")
@blp.arguments(schemas.BurnArgsSchema, location="query")
@blp.response(200, schemas.BurnSchema)
@blp.doc(**apidoc.answers("svg", "png", "xlsx"))
def burn(args):
    """Budget burn: cumulative spending per month and source over a fiscal year (JSON, SVG or PNG chart, XLSX)."""
    with ctx().transaction() as session:
        burn_data = usecases.budget_burn(session, args["fiscal_year"])
    fmt, year = args["format"], args["fiscal_year"]
    if fmt == "json":
        return respond_as(fmt, [], [], "", json_body=burn_data)
    if fmt == "xlsx":  # through the shared writer, which neutralises formula-like cells, with its line chart
        series = burn_data["series"]
        return respond_as(fmt, formats.burn_rows(series), formats.burn_columns(series), **formats.burn_sheet(year))
    body = line_chart(formats.MONTHS, formats.labelled_series(burn_data["series"]), title=formats.burn_title(year),
                      ylabel="Đồng", fmt=fmt)
    return chart_response(body, fmt)
