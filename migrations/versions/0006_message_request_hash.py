"""A transactional message remembers the hash of the request its Idempotency-Key came with, so the
same key with a different body is refused instead of silently replaying the first message.

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable without a default: PostgreSQL adds it without rewriting the table.
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_hash', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('request_hash')
