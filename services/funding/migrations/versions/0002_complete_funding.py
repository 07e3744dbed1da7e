"""complete funding: reservations, estimates, amendments, incentives, degree commitments, receivables

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 16:22:34.935099
"""
from alembic import op
import sqlalchemy as sa
import shared.db


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('degree_commitments',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('civil_servant_id', sa.String(length=36), nullable=False),
    sa.Column('programme', sa.String(length=200), nullable=False),
    sa.Column('decision_no', sa.String(length=100), nullable=False),
    sa.Column('training_cost', sa.BigInteger(), nullable=False),
    sa.Column('training_months', sa.Integer(), nullable=False),
    sa.Column('committed_months', sa.Integer(), nullable=False),
    sa.Column('multiplier_norm_id', sa.String(length=36), nullable=True),
    sa.Column('service_start', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('degree_commitments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_degree_commitments_civil_servant_id'), ['civil_servant_id'], unique=False)

    op.create_table('civil_servant_refs',
    sa.Column('civil_servant_id', sa.String(length=36), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('commune_code', sa.String(length=40), nullable=False),
    sa.Column('updated_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('civil_servant_id')
    )
    op.create_table('funding_courses',
    sa.Column('course_id', sa.String(length=36), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=True),
    sa.Column('organizer_unit_code', sa.String(length=40), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('form', sa.String(length=20), nullable=True),
    sa.Column('venue_json', sa.Text(), nullable=True),
    sa.Column('updated_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('course_id')
    )
    op.create_table('reservations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('course_id', sa.String(length=36), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('estimate_total', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=True),
    sa.Column('source_event_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reservations_course_id'), ['course_id'], unique=False)

    op.create_table('budget_amendments',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('budget_line_id', sa.String(length=36), nullable=False),
    sa.Column('delta', sa.BigInteger(), nullable=False),
    sa.Column('decision_no', sa.String(length=100), nullable=False),
    sa.Column('decision_date', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['budget_line_id'], ['budget_lines.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('budget_amendments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_budget_amendments_budget_line_id'), ['budget_line_id'], unique=False)

    op.create_table('estimate_lines',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('reservation_id', sa.String(length=36), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('item', sa.String(length=40), nullable=False),
    sa.Column('payee_kind', sa.String(length=20), nullable=False),
    sa.Column('payee_ref', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('owner_unit_code', sa.String(length=40), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_amount', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('norm_id', sa.String(length=36), nullable=False),
    sa.Column('cap_norm_id', sa.String(length=36), nullable=True),
    sa.Column('detail', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['reservation_id'], ['reservations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('estimate_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_estimate_lines_reservation_id'), ['reservation_id'], unique=False)

    op.create_table('incentive_payments',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('course_id', sa.String(length=36), nullable=False),
    sa.Column('civil_servant_id', sa.String(length=36), nullable=False),
    sa.Column('commune_code', sa.String(length=40), nullable=False),
    sa.Column('item', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('norm_id', sa.String(length=36), nullable=False),
    sa.Column('cap_norm_id', sa.String(length=36), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('owner_unit_code', sa.String(length=40), nullable=False),
    sa.Column('budget_line_id', sa.String(length=36), nullable=True),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('source_event_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['budget_line_id'], ['budget_lines.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('course_id', 'civil_servant_id', 'item')
    )
    with op.batch_alter_table('incentive_payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incentive_payments_course_id'), ['course_id'], unique=False)

    op.create_table('receivables',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('commitment_id', sa.String(length=36), nullable=False),
    sa.Column('civil_servant_id', sa.String(length=36), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('training_cost', sa.BigInteger(), nullable=False),
    sa.Column('committed_months', sa.Integer(), nullable=False),
    sa.Column('served_months', sa.Integer(), nullable=False),
    sa.Column('left_on', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('source_event_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['commitment_id'], ['degree_commitments.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('commitment_id')
    )
    with op.batch_alter_table('receivables', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_receivables_civil_servant_id'), ['civil_servant_id'], unique=False)

    op.create_table('reservation_lines',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('reservation_id', sa.String(length=36), nullable=False),
    sa.Column('budget_line_id', sa.String(length=36), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('owner_unit_code', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['budget_line_id'], ['budget_lines.id'], ),
    sa.ForeignKeyConstraint(['reservation_id'], ['reservations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reservation_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reservation_lines_reservation_id'), ['reservation_id'], unique=False)

    with op.batch_alter_table('budget_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reserved', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('spent', sa.BigInteger(), server_default='0', nullable=False))

    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reverses', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_ledger_entries_reverses'), ['reverses'], unique=False)

    with op.batch_alter_table('settlement_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cap_norm_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('detail', sa.String(length=200), nullable=True))

    with op.batch_alter_table('settlements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reservation_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('estimate_total', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('variance', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('released', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('unfunded', sa.BigInteger(), nullable=True))

    # Lines settled under 0001 booked spending as credits to budget:<id>; carry them into the new spent column.
    op.execute("UPDATE budget_lines SET spent = COALESCE((SELECT SUM(e.credit) FROM ledger_entries e "
               "WHERE e.account = 'budget:' || budget_lines.id), 0)")
    # The skeleton spelled the state ĐT-BD source "dtbd_state"; the shared code list says "state_dtbd".
    op.execute("UPDATE budget_lines SET source = 'state_dtbd' WHERE source = 'dtbd_state'")
    op.execute("UPDATE settlement_lines SET source = 'state_dtbd' WHERE source = 'dtbd_state'")


def downgrade() -> None:
    with op.batch_alter_table('settlements', schema=None) as batch_op:
        batch_op.drop_column('unfunded')
        batch_op.drop_column('released')
        batch_op.drop_column('variance')
        batch_op.drop_column('estimate_total')
        batch_op.drop_column('reservation_id')

    with op.batch_alter_table('settlement_lines', schema=None) as batch_op:
        batch_op.drop_column('detail')
        batch_op.drop_column('cap_norm_id')

    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_entries_reverses'))
        batch_op.drop_column('reverses')

    with op.batch_alter_table('budget_lines', schema=None) as batch_op:
        batch_op.drop_column('spent')
        batch_op.drop_column('reserved')

    with op.batch_alter_table('reservation_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reservation_lines_reservation_id'))

    op.drop_table('reservation_lines')
    with op.batch_alter_table('receivables', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_receivables_civil_servant_id'))

    op.drop_table('receivables')
    with op.batch_alter_table('incentive_payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incentive_payments_course_id'))

    op.drop_table('incentive_payments')
    with op.batch_alter_table('estimate_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_estimate_lines_reservation_id'))

    op.drop_table('estimate_lines')
    with op.batch_alter_table('budget_amendments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_budget_amendments_budget_line_id'))

    op.drop_table('budget_amendments')
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reservations_course_id'))

    op.drop_table('reservations')
    op.drop_table('funding_courses')
    op.drop_table('civil_servant_refs')
    with op.batch_alter_table('degree_commitments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_degree_commitments_civil_servant_id'))

    op.drop_table('degree_commitments')
