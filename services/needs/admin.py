"""Operator endpoints and CLI of the needs service: seed the Thới Bình reference data and civil servants."""
from __future__ import annotations

import sys

from marshmallow import Schema, fields, validate

from services.needs import usecases
from shared.admin import operator_blueprint
from shared.web import ctx

blp = operator_blueprint("needs_admin", __name__, "/admin/needs", "Needs operator endpoints")


class SeedArgsSchema(Schema):
    civil_servants = fields.Integer(load_default=111, validate=validate.Range(min=0, max=100_000))


@blp.route("/seed", methods=["POST"])
@blp.arguments(SeedArgsSchema)
@blp.doc(security=[{"bearerAuth": []}])
def seed(args):
    """Seed units, the 2025 merger, positions and the synthetic civil servants (idempotent)."""
    with ctx().transaction() as session:
        added = usecases.seed_reference_data(session)
        added["civil_servants"] = usecases.seed_civil_servants(session, args["civil_servants"])
    return added


def main(argv: list[str]) -> int:
    """CLI: `python -m services.needs.admin seed [count]`."""
    from services.needs.settings import get_settings
    from shared.db import make_engine, make_session_factory, transaction

    if not argv or argv[0] != "seed":
        print("usage: python -m services.needs.admin seed [count]", file=sys.stderr)
        return 2
    engine = make_engine(get_settings().database_url)
    with transaction(make_session_factory(engine)) as session:
        added = usecases.seed_reference_data(session)
        added["civil_servants"] = usecases.seed_civil_servants(session, int(argv[1]) if len(argv) > 1 else 111)
    print(added)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
