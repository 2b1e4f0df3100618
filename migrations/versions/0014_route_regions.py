"""Route regions and pinned retries: routes match the recipient's ISO region, kept with the number.

`messages.region` and `contacts.phone_region` hold the region phonenumbers gives a number (ZM, CA,
GG...), filled where the carrier is; routes match on it, never on the calling code (+1 is both
US and CA). `messages.pinned` marks a row whose last call's outcome is unknown: its retries stay
on the account that made that call.

Revision ID: 0014_route_regions
Revises: 0013_blocked_carriers
"""
from alembic import op
import sqlalchemy as sa


revision = '0014_route_regions'
down_revision = '0013_blocked_carriers'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('messages', sa.Column('region', sa.Text(), nullable=True))
    op.add_column('messages', sa.Column('pinned', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('contacts', sa.Column('phone_region', sa.Text(), nullable=True))


def downgrade():
    op.drop_column('contacts', 'phone_region')
    op.drop_column('messages', 'pinned')
    op.drop_column('messages', 'region')
