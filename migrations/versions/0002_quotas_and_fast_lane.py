"""Quota windows, per-service daily quota, transactional message columns.

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('quota_windows',
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('window_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('quota_limit', sa.Integer(), nullable=False),
    sa.Column('used', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('scope', 'window_start')
    )
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.add_column(sa.Column('daily_quota', sa.Integer(), nullable=True))
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('provider', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('idempotency_key', sa.Text(), nullable=True))
        batch_op.create_index('uq_messages_service_idempotency_key', ['service_id', 'idempotency_key'], unique=True,
                              postgresql_where=sa.text('idempotency_key IS NOT NULL'))
        batch_op.create_index('ix_messages_transactional_pending', ['next_attempt_at', 'id'], unique=False,
                              postgresql_where=sa.text("broadcast_id IS NULL AND status = 'pending'"))


def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_transactional_pending')
        batch_op.drop_index('uq_messages_service_idempotency_key')
        batch_op.drop_column('idempotency_key')
        batch_op.drop_column('provider')
        batch_op.drop_column('body')
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.drop_column('daily_quota')
    op.drop_table('quota_windows')
