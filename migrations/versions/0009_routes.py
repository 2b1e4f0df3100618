"""Routes: the route a message was sent over and the price per part it was sent at.

`messages.provider` already names the account; a routed broadcast's rows get it (with the
route and its price) when they are claimed, so a report, a reaper and an audit all know
which account carried each message.

Revision ID: 0009_routes
Revises: 0007_audiences
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_routes'
down_revision = '0007_audiences'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('messages', sa.Column('route', sa.Text(), nullable=True))
    op.add_column('messages', sa.Column('price', sa.Numeric(12, 4), nullable=True))


def downgrade():
    op.drop_column('messages', 'price')
    op.drop_column('messages', 'route')
