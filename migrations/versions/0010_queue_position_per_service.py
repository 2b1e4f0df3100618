"""A transactional message's queue position counts only its own service's due rows: an index on
(service_id, id) over the fast lane's pending rows keeps that count a range scan.

Revision ID: 0010_queue_position
Revises: 0009_routes
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_queue_position'
down_revision = '0009_routes'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_transactional_pending_service', ['service_id', 'id', 'next_attempt_at'],
                              unique=False, postgresql_where=sa.text("broadcast_id IS NULL AND status = 'pending'"))


def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_transactional_pending_service')
