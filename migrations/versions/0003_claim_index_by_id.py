"""Claim pending rows in id order: the old (broadcast_id, next_attempt_at) index made every claim
of a million-row broadcast sort all its pending rows (one intake shares one next_attempt_at).

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_pending_due')
        batch_op.create_index('ix_messages_pending', ['broadcast_id', 'id'], unique=False,
                              postgresql_where=sa.text("status = 'pending'"))


def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_pending')
        batch_op.create_index('ix_messages_pending_due', ['broadcast_id', 'next_attempt_at'], unique=False,
                              postgresql_where=sa.text("status = 'pending'"))
