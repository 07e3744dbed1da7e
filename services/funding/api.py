"""Public HTTP API of the funding service (/api/v1)."""
from flask import jsonify
from flask_smorest import Blueprint

from services.funding import domain, schemas, usecases
from shared import tabular
from shared.charts import bar_chart, chart_response, line_chart
from shared.tabular import Column
from shared.web import UploadSchema, ctx, download, read_upload, token_required

blp = Blueprint("funding", __name__, url_prefix="", description="Dự toán, định mức, quyết toán, sổ cái")
PAYEE_KINDS = {"lecturer": "Giảng viên", "trainee": "Học viên"}


# --- budget lines ----------------------------------------------------------------------------------------------

@blp.route("/budget-lines", methods=["POST"])
@token_required
@blp.arguments(schemas.BudgetLineCreateSchema)
@blp.response(201, schemas.BudgetLineSchema)
def create_budget_line(data):
    """Open a budget line with its allocation decision."""
    with ctx().transaction() as session:
        line = usecases.create_budget_line(session, data)
        session.flush()
        return usecases.list_budget_lines(session, line_id=line.id)[0]


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
@token_required
@blp.arguments(schemas.BudgetAmendmentCreateSchema)
@blp.response(201, schemas.BudgetAmendmentSchema)
def amend_budget_line(data, budget_line_id):
    """Amend a line's allocation by a decision (number and date); never below what is reserved and spent."""
    with ctx().transaction() as session:
        return usecases.amend_budget_line(session, budget_line_id, data)


# --- cost norms ------------------------------------------------------------------------------------------------

def _int_between(low: int, high: int):
    """A cell parser for a whole number within [low, high] (the same bounds as the JSON API)."""
    def parse(text: str) -> int:
        value = tabular.parse_int(text)
        if not low <= value <= high:
            raise ValueError(f"Giá trị phải từ {low} đến {high}.")
        return value
    return parse


def _text_up_to(length: int):
    """A cell parser for text of at most `length` characters (the column's size in the database)."""
    def parse(text: str) -> str:
        if len(text) > length:
            raise ValueError(f"Dài quá {length} ký tự.")
        return text
    return parse


def _date_in_range(text: str):
    """A cell parser for a date between 2000 and 2100 (outside it: a typing mistake, or beyond date arithmetic)."""
    value = tabular.parse_date(text)
    if not 2000 <= value.year <= 2100:
        raise ValueError("Ngày phải trong khoảng 2000–2100.")
    return value


NORM_COLUMNS = [
    Column("item", "Khoản chi", tabular.one_of(domain.ITEM_UNITS), required=True, width=22),
    Column("unit", "Đơn vị tính", tabular.one_of(domain.UNITS), required=True),
    Column("lecturer_tier", "Hạng giảng viên", _int_between(1, 10)),
    Column("province_code", "Tỉnh", _text_up_to(20), required=True, width=8),
    Column("amount", "Mức chi (đồng)", _int_between(0, 10**15), required=True),
    Column("legal_basis", "Căn cứ pháp lý", _text_up_to(300), required=True, width=50),
    Column("valid_from", "Hiệu lực từ", _date_in_range, required=True, width=12),
    Column("valid_to", "Hiệu lực đến", _date_in_range, width=12),
    Column("is_sample", "Mẫu", tabular.parse_bool, default=False, width=6),
]


# One URL family for versioned rules in every service: /api/v1/rules[/<kind>]; funding's one kind is cost-norms.

@blp.route("/rules")
@blp.response(200, schemas.RuleKindSchema(many=True))
def list_rules():
    """List every rule kind with the versions in force today and their legal basis."""
    with ctx().transaction() as session:
        return usecases.list_rules(session, province_code=ctx().settings.province_code)


@blp.route("/rules/cost-norms", methods=["POST"])
@token_required
@blp.arguments(schemas.CostNormCreateSchema)
@blp.response(201, schemas.CostNormSchema)
def create_norm(data):
    """Add a version of a cost norm with its legal basis and validity dates (supersedes an open-ended earlier one)."""
    with ctx().transaction() as session:
        return usecases.create_norm(session, data)


@blp.route("/rules/cost-norms")
@blp.arguments(schemas.CostNormQueryArgsSchema, location="query")
@blp.response(200, schemas.CostNormSchema(many=True))
def list_norms(args):
    """List the cost norm versions, optionally those in force on a day; CSV or XLSX with the import's columns."""
    with ctx().transaction() as session:
        norms = usecases.list_norms(session, args["item"], args["on"])
        if args["format"] == "json":
            return norms
        rows = [{c.key: getattr(n, c.key) for c in NORM_COLUMNS} for n in norms]
    return download(rows, NORM_COLUMNS, args["format"], "dinh-muc-chi", title="Định mức",
                    heading="ĐỊNH MỨC CHI ĐÀO TẠO, BỒI DƯỠNG")


@blp.route("/rules/cost-norms/import", methods=["POST"])
@token_required
@blp.arguments(UploadSchema, location="files")
@blp.response(201, schemas.ImportResultSchema)
def import_norms(files):
    """Import cost norms from a CSV/XLSX file (multipart field `file`); all rows or none, errors by line and field;
    a row starting after an open-ended version supersedes it."""
    data, filename = read_upload(files)
    # Bad cells and the use case's checks of every row are refused together (TableError): the shared handler
    # answers it.
    errors = tabular.RowErrors()
    rows = tabular.read_table(data, filename, NORM_COLUMNS, errors=errors)
    with ctx().transaction() as session:
        return usecases.import_norms(session, rows, errors)


# --- estimate, settlement, payees ------------------------------------------------------------------------------

@blp.route("/courses/<course_id>/estimate")
@token_required
@blp.response(200, schemas.EstimateSchema)
def get_estimate(course_id):
    """Show a course's latest estimate per item and source, and its reservation state."""
    with ctx().transaction() as session:
        return usecases.get_estimate(session, course_id)


@blp.route("/settlements/<course_id>")
@token_required
@blp.response(200, schemas.SettlementSchema)
def get_settlement(course_id):
    """Show a course's settlement with its lines, estimate, variance and released amount."""
    with ctx().transaction() as session:
        return usecases.get_settlement(session, course_id)


@blp.route("/settlements/<course_id>/payees")
@token_required
@blp.arguments(schemas.PayeeArgsSchema, location="query")
def payees(args, course_id):
    """The payee list to sign ("Ký nhận"): amount per item per payee and totals, as JSON, CSV or XLSX."""
    with ctx().transaction() as session:
        sheet = usecases.payee_list(session, course_id)
    if args["format"] == "json":
        return jsonify(sheet)
    columns = [Column("no", "STT", width=6), Column("payee_kind", "Đối tượng", width=12),
               Column("payee_code", "Mã cán bộ", width=14), Column("payee_ref", "Mã định danh", width=38),
               Column("owner_unit_code", "Đơn vị", width=14)]
    columns += [Column(item, sheet["item_labels"][item], width=16) for item in sheet["items"]]
    columns += [Column("total", "Tổng cộng (đồng)", width=16), Column("signature", "Ký nhận", width=18)]
    rows = [{"no": r["no"], "payee_kind": PAYEE_KINDS.get(r["payee_kind"], r["payee_kind"]),
             "payee_code": r["payee_code"], "payee_ref": r["payee_ref"], "owner_unit_code": r["owner_unit_code"],
             **r["amounts"],
             "total": r["total"], "signature": ""} for r in sheet["payees"]]
    rows.append({"payee_ref": "TỔNG CỘNG", **sheet["totals"], "total": sheet["total"]})
    return download(rows, columns, args["format"], f"danh-sach-ky-nhan-{sheet['course_code']}",
                            title="Ký nhận", heading=f"DANH SÁCH CHI TRẢ VÀ KÝ NHẬN – LỚP {sheet['course_code']}",
                            footer=["Người lập biểu                Kế toán                Thủ trưởng đơn vị"])


# --- ledger ----------------------------------------------------------------------------------------------------

@blp.route("/ledger")
@blp.arguments(schemas.LedgerQueryArgsSchema, location="query")
@blp.response(200, schemas.LedgerEntrySchema(many=True))
def ledger(args):
    """List ledger entries, by course or account."""
    with ctx().transaction() as session:
        return usecases.ledger(session, args["course_id"], args["account"], args["limit"])


@blp.route("/ledger/trial-balance")
def trial_balance():
    """Debits, credits and balance per account, from the entries alone."""
    with ctx().transaction() as session:
        return jsonify(usecases.trial_balance(session))


@blp.route("/ledger/journals/<journal_id>/reverse", methods=["POST"])
@token_required
@blp.arguments(schemas.ReverseJournalSchema)
def reverse_journal(data, journal_id):
    """Correct an allocation or amendment journal by posting its reversal (nothing is edited or deleted)."""
    with ctx().transaction() as session:
        return jsonify({"journal_id": usecases.reverse_journal(session, journal_id, data["reason"]),
                        "reverses": journal_id}), 201


# --- incentives and degree-training commitments ----------------------------------------------------------------

@blp.route("/incentives")
@token_required
@blp.arguments(schemas.CourseArgsSchema, location="query")
@blp.response(200, schemas.IncentiveSchema(many=True))
def incentives(args):
    """List rewards paid to excellent learners, optionally for one course."""
    with ctx().transaction() as session:
        return usecases.list_incentives(session, args["course_id"])


@blp.route("/degree-commitments", methods=["POST"])
@token_required
@blp.arguments(schemas.CommitmentCreateSchema)
@blp.response(201, schemas.CommitmentSchema)
def create_commitment(data):
    """Record a degree-training commitment (service time ≥ the multiplier norm × training time)."""
    with ctx().transaction() as session:
        return usecases.create_commitment(session, data, province_code=ctx().settings.province_code)


@blp.route("/degree-commitments")
@token_required
@blp.arguments(schemas.CivilServantArgsSchema, location="query")
@blp.response(200, schemas.CommitmentSchema(many=True))
def list_commitments(args):
    """List degree-training commitments, optionally of one civil servant."""
    with ctx().transaction() as session:
        return usecases.list_commitments(session, args["civil_servant_id"])


@blp.route("/receivables")
@token_required
@blp.arguments(schemas.CivilServantArgsSchema, location="query")
@blp.response(200, schemas.ReceivableSchema(many=True))
def list_receivables(args):
    """List repayment receivables opened when a committed civil servant left early."""
    with ctx().transaction() as session:
        return usecases.list_receivables(session, args["civil_servant_id"])


# --- reports ---------------------------------------------------------------------------------------------------

MONTHS = [f"T{m}" for m in range(1, 13)]
GROUP_LABELS = {"source": "NGUỒN KINH PHÍ", "item": "KHOẢN CHI", "commune": "ĐƠN VỊ", "course": "LỚP HỌC",
                "year": "NĂM"}


@blp.route("/reports/spending")
@blp.arguments(schemas.SpendingArgsSchema, location="query")
def spending_report(args):
    """Actual spending by source, item, commune, course or year, as JSON, CSV, XLSX or a bar chart (SVG/PNG)."""
    with ctx().transaction() as session:
        rows = usecases.spending_report(session, args["group_by"], args["fiscal_year"])
    if args["format"] == "json":
        return jsonify({"group_by": args["group_by"], "fiscal_year": args["fiscal_year"], "rows": rows,
                        "total": sum(r["amount"] for r in rows)})
    if args["format"] in ("svg", "png"):
        year = f" năm {args['fiscal_year']}" if args["fiscal_year"] else ""
        body = bar_chart([r["label"] for r in rows], {"Đã chi": [r["amount"] for r in rows]}, ylabel="Đồng",
                         title=f"Chi đào tạo, bồi dưỡng theo {GROUP_LABELS[args['group_by']].lower()}{year}",
                         fmt=args["format"], horizontal=True)
        return chart_response(body, args["format"])
    columns = [Column("key", "Mã", width=24), Column("label", "Nội dung", width=44),
               Column("amount", "Số tiền (đồng)", width=18)]
    return download(rows, columns, args["format"], f"chi-theo-{args['group_by']}", title="Chi tiêu",
                            heading=f"TỔNG HỢP CHI ĐÀO TẠO, BỒI DƯỠNG THEO {GROUP_LABELS[args['group_by']]}")


@blp.route("/reports/plan-vs-actual")
@blp.arguments(schemas.PlanArgsSchema, location="query")
def plan_vs_actual(args):
    """Plan (allocated) against actual (spent) per budget line of a year, and per course; JSON, CSV or XLSX."""
    with ctx().transaction() as session:
        lines = usecases.plan_vs_actual(session, args["fiscal_year"])
        courses = usecases.course_plan_vs_actual(session, args["fiscal_year"])
    if args["format"] == "json":
        return jsonify({"fiscal_year": args["fiscal_year"], "budget_lines": lines, "courses": courses})
    columns = [Column("source_label", "Nguồn", width=40), Column("owner_unit_code", "Đơn vị", width=14),
               Column("allocated", "Dự toán giao", width=16), Column("reserved", "Đang giữ chỗ", width=16),
               Column("spent", "Đã chi", width=16), Column("balance", "Còn lại", width=16),
               Column("spent_percent", "Tỷ lệ chi (%)", width=12)]
    return download(lines, columns, args["format"], f"du-toan-thuc-hien-{args['fiscal_year']}",
                            title="Dự toán-thực hiện", heading=f"DỰ TOÁN VÀ THỰC HIỆN NĂM {args['fiscal_year']}")


@blp.route("/reports/burn")
@blp.arguments(schemas.BurnArgsSchema, location="query")
def burn(args):
    """Budget burn: cumulative spending per month and source over a fiscal year (JSON, SVG or PNG chart)."""
    with ctx().transaction() as session:
        series = usecases.burn(session, args["fiscal_year"])
    if args["format"] == "json":
        return jsonify({"fiscal_year": args["fiscal_year"], "months": MONTHS, "series": series})
    if args["format"] == "xlsx":
        return _burn_xlsx(args["fiscal_year"], series)
    labelled = {domain.SOURCE_LABELS.get(k, k): v for k, v in series.items()}
    body = line_chart(MONTHS, labelled, title=f"Lũy kế chi theo nguồn năm {args['fiscal_year']}",
                      ylabel="Đồng", fmt=args["format"])
    return chart_response(body, args["format"])


def _burn_xlsx(year: int, series: dict[str, list[int]]):
    """The burn table (month × source, cumulative VND) with a native Excel line chart beside it."""
    from io import BytesIO

    from flask import Response
    from openpyxl import Workbook
    from openpyxl.chart import LineChart, Reference

    book = Workbook()
    sheet = book.active
    sheet.title = "Lũy kế chi"
    sources = list(series)
    sheet.append(["Tháng"] + [domain.SOURCE_LABELS.get(x, x) for x in sources])
    for m, month in enumerate(MONTHS):
        sheet.append([month] + [series[x][m] for x in sources])
    if sources:
        chart = LineChart()
        chart.title, chart.y_axis.title, chart.x_axis.title = f"Lũy kế chi theo nguồn năm {year}", "Đồng", "Tháng"
        chart.add_data(Reference(sheet, min_col=2, max_col=1 + len(sources), min_row=1, max_row=13),
                       titles_from_data=True)
        chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=13))
        sheet.add_chart(chart, "H2")
    out = BytesIO()
    book.save(out)
    response = Response(out.getvalue(), mimetype=tabular.XLSX_MIME)
    response.headers["Content-Disposition"] = f'attachment; filename="luy-ke-chi-{year}.xlsx"'
    return response
