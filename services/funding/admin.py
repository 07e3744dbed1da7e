"""Operator endpoints and CLI of the funding service: sample norms and budget lines, ledger verification."""
from __future__ import annotations

import sys

from services.funding import schemas, seed, usecases
from shared.admin import OPERATOR_DOC, operator_blueprint
from shared.web import ctx

blp = operator_blueprint("funding_admin", __name__, "/admin/funding", "Funding operator endpoints")


@blp.route("/seed", methods=["POST"])
@blp.arguments(schemas.SeedArgsSchema)
@blp.response(200, schemas.SeedResultSchema)
@blp.doc(**OPERATOR_DOC)
def seed_samples(args):
    """Load the SAMPLE cost norms and ample sample budget lines for 2025–2030 and the fiscal year (idempotent)."""
    with ctx().transaction() as session:
        return seed.seed_samples(session, args["fiscal_year"], args["organizer_unit_code"], args["communes"],
                                 province_code=ctx().settings.province_code)


@blp.route("/verify")
@blp.response(200, schemas.VerifySchema)
@blp.doc(**OPERATOR_DOC)
def verify():
    """Check every budget line's kept totals against the ledger and the trial balance; lists disagreements."""
    with ctx().transaction() as session:
        return usecases.verify_ledger(session)


def main(argv: list[str]) -> int:
    """CLI: `python -m services.funding.admin seed <fiscal_year>`."""
    from services.funding.settings import get_settings
    from shared.db import make_engine, make_session_factory, transaction

    if len(argv) != 2 or argv[0] != "seed":
        print("usage: python -m services.funding.admin seed <fiscal_year>", file=sys.stderr)
        return 2
    settings = get_settings()
    with transaction(make_session_factory(make_engine(settings.database_url))) as session:
        print(seed.seed_samples(session, int(argv[1]), "CM-THOIBINH", seed.COMMUNES,
                                province_code=settings.province_code))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
