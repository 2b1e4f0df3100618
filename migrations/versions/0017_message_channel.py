"""A transactional message's channel, kept on its row (broadcast rows take their broadcast's).

The fast lane asks the channel for its suppression list, its routes and its units; rows stored
before this column are SMS, the only channel sent then.

Revision ID: 0017_message_channel
Revises: 0016_region_backfill
"""
from alembic import op
import sqlalchemy as sa


revision = '0017_message_channel'
down_revision = '0016_region_backfill'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('messages', sa.Column('channel', sa.Text(), nullable=True))


def downgrade():
    op.drop_column('messages', 'channel')
