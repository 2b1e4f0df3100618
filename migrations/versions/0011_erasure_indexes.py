"""Erasure indexes: a person's messages by (service, recipient), reports and dead letters by message.

Without them erasing one contact reads every row of `messages` (10 million in a national
programme) and of `delivery_events`. Built CONCURRENTLY, outside a transaction, so that sends
and reports go on while the indexes are built on a live database.

Revision ID: 0011_erasure_indexes
Revises: 0010_queue_position
"""
from alembic import op


revision = '0011_erasure_indexes'
down_revision = '0010_queue_position'
branch_labels = None
depends_on = None

INDEXES = (
    ('ix_messages_service_recipient', 'messages', ['service_id', 'recipient']),
    ('ix_delivery_events_provider_message_id', 'delivery_events', ['provider_message_id']),
    ('ix_dead_letters_message', 'dead_letters', ['message_id']),
)


def upgrade():
    with op.get_context().autocommit_block():
        for name, table, columns in INDEXES:
            op.create_index(name, table, columns, unique=False, postgresql_concurrently=True, if_not_exists=True)


def downgrade():
    with op.get_context().autocommit_block():
        for name, table, _columns in INDEXES:
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
