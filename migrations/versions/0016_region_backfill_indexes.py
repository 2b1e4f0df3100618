"""Region backfill indexes: the messages and contacts stored before regions were kept (0014).

Such rows match routes by calling code, which +1 (US, CA) and +44 (GB, GG, JE, IM) share.
`flask herald backfill-regions` gives them their region in short batches; these partial indexes
hold only the rows still missing one (new rows never enter them), so the backfill and the
startup warning read those rows alone, never the whole table, and the indexes are empty once it
is done. Built CONCURRENTLY, outside a transaction, so sending goes on meanwhile.

Revision ID: 0016_region_backfill
Revises: 0015_message_parts
"""
from alembic import op
import sqlalchemy as sa


revision = '0016_region_backfill'
down_revision = '0015_message_parts'
branch_labels = None
depends_on = None

INDEXES = (
    ('ix_messages_region_missing', 'messages',
     "region IS NULL AND status IN ('pending', 'processing', 'failed') AND recipient LIKE '+%'"),
    ('ix_contacts_phone_region_missing', 'contacts',
     "phone_region IS NULL AND phone IS NOT NULL AND phone_error IS NULL"),
)


def upgrade():
    with op.get_context().autocommit_block():
        for name, table, where in INDEXES:
            op.create_index(name, table, ['id'], unique=False, postgresql_where=sa.text(where),
                            postgresql_concurrently=True, if_not_exists=True)


def downgrade():
    with op.get_context().autocommit_block():
        for name, table, _where in INDEXES:
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
