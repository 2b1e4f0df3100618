"""Every broadcast transition bumps status_version, so the Redis status flag is written
compare-and-set and concurrent transitions can never leave an older status mirrored.

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('broadcasts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_version', sa.BigInteger(), server_default='1', nullable=False))


def downgrade():
    with op.batch_alter_table('broadcasts', schema=None) as batch_op:
        batch_op.drop_column('status_version')
