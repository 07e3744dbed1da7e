"""Public HTTP API of the needs service (/api/v1)."""
from flask_smorest import Blueprint

from services.needs import schemas, usecases
from shared.web import ctx, token_required

blp = Blueprint("needs", __name__, url_prefix="", description="Đơn vị hành chính, vị trí việc làm, công chức")


def _cs_out(cs, commune_code: str) -> dict:
    data = {c: getattr(cs, c) for c in schemas.CivilServantSchema().fields if hasattr(cs, c)}
    data["commune_code"] = commune_code
    return data


@blp.route("/units")
@blp.arguments(schemas.UnitQueryArgsSchema, location="query")
@blp.response(200, schemas.UnitSchema(many=True))
def list_units(args):
    """List administrative units, optionally those in force on a given day."""
    with ctx().transaction() as session:
        return usecases.list_units(session, args["as_of"])


@blp.route("/units/<code>")
@blp.response(200, schemas.UnitDetailSchema)
def get_unit(code):
    """Show a unit with the units merged into it and the unit it merged into."""
    with ctx().transaction() as session:
        return usecases.get_unit(session, code)


@blp.route("/positions")
@blp.response(200, schemas.PositionSchema(many=True))
def list_positions():
    """List the job-position catalogue."""
    with ctx().transaction() as session:
        return usecases.list_positions(session)


@blp.route("/civil-servants", methods=["POST"])
@token_required
@blp.arguments(schemas.CivilServantCreateSchema)
@blp.response(201, schemas.CivilServantSchema)
def create_civil_servant(data):
    """Register a civil servant."""
    with ctx().transaction() as session:
        return _cs_out(*usecases.register_civil_servant(session, data))


@blp.route("/civil-servants")
@token_required
@blp.arguments(schemas.CivilServantQueryArgsSchema, location="query")
@blp.response(200, schemas.CivilServantPageSchema)
def list_civil_servants(args):
    """List civil servants by former unit, today's commune or position (personal data: token required)."""
    page, page_size = args.pop("page"), args.pop("page_size")
    with ctx().transaction() as session:
        rows, total, communes = usecases.list_civil_servants(session, page=page, page_size=page_size, **args)
        return {"total": total, "page": page, "page_size": page_size,
                "items": [_cs_out(r, communes[r.unit_code]) for r in rows]}


@blp.route("/civil-servants/<cs_id>")
@token_required
@blp.response(200, schemas.CivilServantSchema)
def get_civil_servant(cs_id):
    """Show one civil servant (personal data: token required)."""
    with ctx().transaction() as session:
        cs, commune = usecases.get_civil_servant(session, cs_id)
        return _cs_out(cs, commune)
