"""Message parts: each part of a multi-part SMPP message under its own id, with its receipt's status.

An SMSC answers each submit_sm of a long message with its own id and sends a receipt for each;
the message settles once every part has a final receipt, at the worst of them.

Revision ID: 0015_message_parts
Revises: 0014_route_regions
"""
from alembic import op
import sqlalchemy as sa


revision = '0015_message_parts'
down_revision = '0014_route_regions'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'message_parts',
        sa.Column('message_id', sa.BigInteger(), nullable=False),
        sa.Column('part', sa.SmallInteger(), nullable=False),
        sa.Column('provider', sa.Text(), nullable=False),
        sa.Column('provider_message_id', sa.Text(), nullable=False),
        sa.Column('status', sa.Text(), nullable=True),
        sa.Column('failure_reason', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('message_id', 'part'),
    )
    op.create_index('ix_message_parts_provider_message_id', 'message_parts', ['provider_message_id'])


def downgrade():
    op.drop_index('ix_message_parts_provider_message_id', table_name='message_parts')
    op.drop_table('message_parts')
