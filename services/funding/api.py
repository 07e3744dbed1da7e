"""Public HTTP API of the funding service (/api/v1)."""
from flask_smorest import Blueprint

from services.funding import schemas, usecases
from shared.web import ctx, token_required

blp = Blueprint("funding", __name__, url_prefix="", description="Dự toán, định mức, quyết toán, sổ cái")


@blp.route("/budget-lines", methods=["POST"])
@token_required
@blp.arguments(schemas.BudgetLineCreateSchema)
@blp.response(201, schemas.BudgetLineSchema)
def create_budget_line(data):
    """Open a budget line with its allocation decision."""
    with ctx().transaction() as session:
        line = usecases.create_budget_line(session, data)
        session.flush()
        return next(x for x in usecases.list_budget_lines(session, line.fiscal_year) if x["id"] == line.id)


@blp.route("/budget-lines")
@blp.arguments(schemas.BudgetLineQueryArgsSchema, location="query")
@blp.response(200, schemas.BudgetLineSchema(many=True))
def list_budget_lines(args):
    """List budget lines with allocated, spent and balance (computed from the ledger)."""
    with ctx().transaction() as session:
        return usecases.list_budget_lines(session, args["fiscal_year"])


@blp.route("/cost-norms", methods=["POST"])
@token_required
@blp.arguments(schemas.CostNormCreateSchema)
@blp.response(201, schemas.CostNormSchema)
def create_norm(data):
    """Add a version of a cost norm with its legal basis and validity dates."""
    with ctx().transaction() as session:
        return usecases.create_norm(session, data)


@blp.route("/cost-norms")
@blp.arguments(schemas.CostNormQueryArgsSchema, location="query")
@blp.response(200, schemas.CostNormSchema(many=True))
def list_norms(args):
    """List cost norms, optionally those in force on a day."""
    with ctx().transaction() as session:
        return usecases.list_norms(session, args["item"], args["on"])


@blp.route("/settlements/<course_id>")
@blp.response(200, schemas.SettlementSchema)
def get_settlement(course_id):
    """Show a course's settlement with its lines."""
    with ctx().transaction() as session:
        return usecases.get_settlement(session, course_id)


@blp.route("/ledger")
@blp.arguments(schemas.LedgerQueryArgsSchema, location="query")
@blp.response(200, schemas.LedgerEntrySchema(many=True))
def ledger(args):
    """List ledger entries, by course or account."""
    with ctx().transaction() as session:
        return usecases.ledger(session, args["course_id"], args["account"], args["limit"])
