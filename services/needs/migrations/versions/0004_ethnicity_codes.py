"""needs: ethnicity as a code of the official list of 54 ethnic groups, the minority flag derived from it

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 04:20:00

`civil_servants.ethnicity` (free text, where "anything but kinh" was a minority, so «Việt» was one) becomes
`ethnicity_code` (two digits of Danh mục các thành phần dân tộc Việt Nam, Tổng cục Thống kê, Quyết định
121-TCTK/PPCĐ ngày 2/3/1979: 01 Kinh … 54 Ơ Đu) and a stored `ethnic_minority`:

- a value that names a group — its code, its official name or a known other name, read as
  services.needs.formats.ethnicity_code reads input (case, NFC/NFD, tone marks, spacing and hyphens do not count:
  «Việt» and «kinh» are 01, «Khmer» and «Khơ Me» 05) — gets that code, and the flag is derived from it (everything
  but 01 Kinh is a minority): a «Việt» stops counting as a minority;
- a value that names no group (a typo, «Khác», an empty string) gets NULL and keeps the flag the old rule derived
  (anything but "kinh" → minority), so nobody loses the priority points or funding's extra support because of the
  migration; the registry shows them with no ethnicity (the export leaves the cells blank, so re-importing that
  file is refused until one is entered) until an officer enters a known one, and the flag follows the code.

The free-text column is dropped (the values are personal data; one that matched is kept as its code). Downgrade
puts the group's official name back, and an empty string where there was no code.
"""
import sqlalchemy as sa
from alembic import op

from services.needs.domain import is_ethnic_minority
from services.needs.formats import ETHNIC_GROUPS, ethnicity_code

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('civil_servants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ethnicity_code', sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column('ethnic_minority', sa.Boolean(), server_default=sa.false(), nullable=False))
    table = sa.table('civil_servants', sa.column('ethnicity', sa.String), sa.column('ethnicity_code', sa.String),
                     sa.column('ethnic_minority', sa.Boolean))
    conn = op.get_bind()
    # One UPDATE per distinct value (a registry holds a few dozen spellings, not a row each).
    for (text,) in conn.execute(sa.select(table.c.ethnicity).distinct()).all():
        code = ethnicity_code(text)
        minority = is_ethnic_minority(code) if code else (text or "").strip().lower() != "kinh"
        conn.execute(table.update().where(table.c.ethnicity == text).values(ethnicity_code=code,
                                                                             ethnic_minority=minority))
    with op.batch_alter_table('civil_servants', schema=None) as batch_op:
        batch_op.drop_column('ethnicity')


def downgrade() -> None:
    with op.batch_alter_table('civil_servants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ethnicity', sa.String(length=60), server_default='', nullable=False))
    table = sa.table('civil_servants', sa.column('ethnicity', sa.String), sa.column('ethnicity_code', sa.String))
    conn = op.get_bind()
    for code, name in ETHNIC_GROUPS.items():
        conn.execute(table.update().where(table.c.ethnicity_code == code).values(ethnicity=name))
    with op.batch_alter_table('civil_servants', schema=None) as batch_op:
        batch_op.alter_column('ethnicity', server_default=None)
        batch_op.drop_column('ethnic_minority')
        batch_op.drop_column('ethnicity_code')
