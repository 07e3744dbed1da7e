"""needs: the five-column roll-up index on needs is dropped

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 19:40:00

`ix_needs_rollup` (province, status, topic, commune, position) served one query, the needs roll-up, and cost every
need written and every status change: closing the national campaign (212,606 people × 7 competencies, 623,545 needs,
`make bench-needs`) took 9.3–9.6 s with it and 7.2–8.1 s without (PostgreSQL's backends 14.0–14.3 → 10.8–11.6 CPU-s;
710 → 555 bytes of WAL a need), while the roll-up of one province read 0.076 s with it and 0.109 s without (a
sequential scan), and the whole country's 0.197 s with it and 0.171 s without (issue 16; the reads' target is 2 s).
Without it, a need's change of status (open → planned → met) touches no index key, so PostgreSQL can make it a
heap-only update where its page has room. The downgrade builds it again.
"""
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_needs_rollup', table_name='needs')


def downgrade():
    op.create_index('ix_needs_rollup', 'needs', ['province_code', 'status', 'topic_code', 'commune_code',
                                                 'position_code'], unique=False)
