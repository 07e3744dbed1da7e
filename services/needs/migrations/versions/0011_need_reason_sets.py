"""needs: a need's priority reasons stored once per set (need_reason_sets), each need naming its set

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 01:58:00

The reasons of a priority score (code, label, points) depend only on the flags of the need and the weights in
force, so a national close wrote the same few hundred JSON arrays ~600,000 times: about 170 bytes a need, a
quarter of its database time and a fifth of its WAL (issue 16, `make bench-needs`). Each distinct set is now one
row of `need_reason_sets`, its id the first 8 bytes of the SHA-256 of its canonical JSON as a signed integer (the
same function as services/needs/usecases/gaps.py `reason_set_id`, copied so that this revision never changes), and
`needs.reason_set_id` names it. The upgrade moves every stored set into the new table; the downgrade writes them
back into each need.
"""
import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def _set_id(reasons) -> int:
    text = json.dumps(reasons, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


def upgrade():
    sets = op.create_table(
        'need_reason_sets',
        sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('reasons', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'))
    with op.batch_alter_table('needs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason_set_id', sa.BigInteger(), nullable=True))
    bind = op.get_bind()
    # one pass per distinct stored text (a few hundred at most): the set's row, then the needs holding that text
    texts = [t for (t,) in bind.execute(sa.text("SELECT CAST(reasons AS TEXT) AS t FROM needs GROUP BY t"))]
    seen = set()
    for text in texts:
        reasons = json.loads(text) if text is not None else []
        set_id = _set_id(reasons)
        if set_id not in seen:
            seen.add(set_id)
            bind.execute(sets.insert().values(id=set_id, reasons=reasons))
        match = "reasons IS NULL" if text is None else "CAST(reasons AS TEXT) = :t"
        bind.execute(sa.text(f"UPDATE needs SET reason_set_id = :id WHERE {match}"), {"id": set_id, "t": text})
    with op.batch_alter_table('needs', schema=None) as batch_op:
        batch_op.alter_column('reason_set_id', existing_type=sa.BigInteger(), nullable=False)
        batch_op.drop_column('reasons')


def downgrade():
    with op.batch_alter_table('needs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reasons', sa.JSON(), nullable=True))
    bind = op.get_bind()
    sets = sa.table('need_reason_sets', sa.column('id', sa.BigInteger()), sa.column('reasons', sa.JSON()))
    needs = sa.table('needs', sa.column('reason_set_id', sa.BigInteger()), sa.column('reasons', sa.JSON()))
    for set_id, reasons in bind.execute(sa.select(sets.c.id, sets.c.reasons)).all():
        bind.execute(needs.update().where(needs.c.reason_set_id == set_id).values(reasons=reasons))
    bind.execute(needs.update().where(needs.c.reasons.is_(None)).values(reasons=[]))
    with op.batch_alter_table('needs', schema=None) as batch_op:
        batch_op.alter_column('reasons', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column('reason_set_id')
    op.drop_table('need_reason_sets')
