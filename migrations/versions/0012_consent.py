"""Consent: inbound keywords in the gateway's order, service-critical templates, exempt sends.

`inbound_messages` keeps every inbound STOP/START with the gateway's id (deduplicated per
account) and the gateway's timestamp, so a late or replayed keyword is judged against the
newest one. `opt_out_events.occurred_at` is when a change took effect in the person's time
line (the gateway's timestamp for an inbound keyword, the request time for the API).
`templates.service_critical` lets a one-time code or an account alert reach a suppressed
number; `messages.suppression_exempt` names why one message may (audited at intake).

Revision ID: 0012_consent
Revises: 0011_erasure_indexes
"""
from alembic import op
import sqlalchemy as sa


revision = '0012_consent'
down_revision = '0011_erasure_indexes'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('opt_out_events', sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False,
                                              server_default=sa.func.now()))
    op.add_column('templates', sa.Column('service_critical', sa.Boolean(), nullable=False,
                                         server_default=sa.false()))
    op.add_column('messages', sa.Column('suppression_exempt', sa.Text(), nullable=True))
    op.create_table(
        'inbound_messages',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('service_id', sa.Integer(), sa.ForeignKey('services.id', ondelete='CASCADE'), nullable=False),
        sa.Column('channel', sa.Text(), nullable=False),
        sa.Column('account', sa.Text(), nullable=False),
        sa.Column('inbound_id', sa.Text(), nullable=True),
        sa.Column('address', sa.Text(), nullable=False),
        sa.Column('action', sa.Text(), nullable=False),
        sa.Column('outcome', sa.Text(), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index('uq_inbound_messages_gateway_id', 'inbound_messages', ['account', 'inbound_id'], unique=True,
                    postgresql_where=sa.text('inbound_id IS NOT NULL'))
    op.create_index('ix_inbound_messages_address', 'inbound_messages',
                    ['service_id', 'channel', 'address', 'sent_at'])


def downgrade():
    op.drop_index('ix_inbound_messages_address', table_name='inbound_messages')
    op.drop_index('uq_inbound_messages_gateway_id', table_name='inbound_messages')
    op.drop_table('inbound_messages')
    op.drop_column('messages', 'suppression_exempt')
    op.drop_column('templates', 'service_critical')
    op.drop_column('opt_out_events', 'occurred_at')
