"""needs: a closed campaign's levels are read from its assessments, no longer copied into competency_records

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 19:00:00

The competency record now reads a closed survey campaign's levels from the assessments, combined by the rule the
campaign froze at its close (services/needs/usecases/records.py, issue 16: the copy was 1.49 million rows and 40 %
of a national close's database time). The copies the close used to append (source "survey") are removed, since the
record would otherwise show each of them twice; evaluation's rows stay. The downgrade writes them back from the
assessments of every closed campaign, dated at its close, with the combination below (copied, so that this
revision never changes with the domain's).
"""
import json
import math

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("DELETE FROM competency_records WHERE source = 'survey'")


def _combine(own, supervisor, rule: dict):
    """services.needs.domain.combine as of this revision."""
    if own is None and supervisor is None:
        return None
    method = rule.get("method", "supervisor_else_self")
    if method == "minimum":
        return min(v for v in (own, supervisor) if v is not None)
    if method == "weighted":
        pairs = [(v, w) for v, w in ((own, float(rule.get("self_weight", 0.3))),
                                     (supervisor, float(rule.get("supervisor_weight", 0.7)))) if v is not None and w > 0]
        if not pairs:
            return None
        return max(1, min(5, math.floor(sum(v * w for v, w in pairs) / sum(w for _, w in pairs) + 0.5)))
    return supervisor if supervisor is not None else own


def downgrade():
    conn = op.get_bind()
    meta = sa.MetaData()
    campaigns = sa.Table("campaigns", meta, autoload_with=conn)
    assessments = sa.Table("assessments", meta, autoload_with=conn)
    records = sa.Table("competency_records", meta, autoload_with=conn)
    for campaign_id, combination, closed_at in conn.execute(sa.select(
            campaigns.c.id, campaigns.c.combination, campaigns.c.closed_at).where(campaigns.c.status == "closed")):
        rows = []
        for person, code, own, supervisor in conn.execute(sa.select(
                assessments.c.civil_servant_id, assessments.c.competency_code, assessments.c.self_level,
                assessments.c.supervisor_level).where(assessments.c.campaign_id == campaign_id)):
            rule = json.loads(combination) if isinstance(combination, str) else (combination or {})
            level = _combine(own, supervisor, rule)
            if level is not None:
                rows.append({"civil_servant_id": person, "competency_code": code, "level": level, "source": "survey",
                             "source_ref": campaign_id, "assessed_at": closed_at, "recorded_at": closed_at})
        for k in range(0, len(rows), 5000):
            conn.execute(records.insert(), rows[k:k + 5000])
