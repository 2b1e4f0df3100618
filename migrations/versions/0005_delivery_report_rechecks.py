"""Delivery reports never wait behind unknown ids; sent messages without a report become unknown_delivery.

Reports whose message is not found get a recheck time with backoff, so the applier takes fresh
reports first instead of the oldest unapplied ones; `unknown_delivery` joins the message statuses,
with an index for the sweep that finds sent rows past the report timeout.

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_STATUSES = "'rejected','opted_out','pending','processing','sent','delivered','failed','unreachable','cancelled'"
_WITH_UNKNOWN = _STATUSES.replace("'sent',", "'sent','unknown_delivery',")


def upgrade():
    with op.batch_alter_table('delivery_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checks', sa.SmallInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_check_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                                      nullable=False))
        batch_op.drop_index('ix_delivery_events_unapplied')
        batch_op.create_index('ix_delivery_events_fresh', ['id'], unique=False,
                              postgresql_where=sa.text('applied_at IS NULL AND checks = 0'))
        batch_op.create_index('ix_delivery_events_recheck', ['next_check_at'], unique=False,
                              postgresql_where=sa.text('applied_at IS NULL AND checks > 0'))
    op.drop_constraint('ck_messages_status', 'messages', type_='check')
    op.create_check_constraint('ck_messages_status', 'messages', f"status IN ({_WITH_UNKNOWN})")
    op.create_index('ix_messages_sent_at', 'messages', ['sent_at'], unique=False,
                    postgresql_where=sa.text("status = 'sent'"))


def downgrade():
    op.drop_index('ix_messages_sent_at', table_name='messages')
    op.execute("UPDATE messages SET status = 'sent' WHERE status = 'unknown_delivery'")
    op.drop_constraint('ck_messages_status', 'messages', type_='check')
    op.create_check_constraint('ck_messages_status', 'messages', f"status IN ({_STATUSES})")
    with op.batch_alter_table('delivery_events', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_events_recheck')
        batch_op.drop_index('ix_delivery_events_fresh')
        batch_op.create_index('ix_delivery_events_unapplied', ['id'], unique=False,
                              postgresql_where=sa.text('applied_at IS NULL'))
        batch_op.drop_column('next_check_at')
        batch_op.drop_column('checks')
