"""Contacts, saved segments, and the audience cursor of a segment broadcast.

contacts has no foreign key to services and no GIN index on attributes: both cost more on a
100,000-row import upsert than they would give (see app/models/contact.py).

Revision ID: 0007_audiences
Revises: 0007_content
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0007_audiences'
down_revision = '0007_content'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('contacts',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.Text(), nullable=False),
    sa.Column('phone', sa.Text(), nullable=True),
    sa.Column('phone_carrier', sa.Text(), nullable=True),
    sa.Column('phone_error', sa.Text(), nullable=True),
    sa.Column('email', sa.Text(), nullable=True),
    sa.Column('whatsapp', sa.Text(), nullable=True),
    sa.Column('inbox_user_id', sa.Text(), nullable=True),
    sa.Column('language', sa.Text(), nullable=True),
    sa.Column('attributes', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
              nullable=False),
    sa.Column('consent', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
              nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('service_id', 'external_id', name='uq_contacts_service_external_id')
    )
    op.create_index('ix_contacts_service_id_id', 'contacts', ['service_id', 'id'], unique=False)
    op.create_index('ix_contacts_service_phone', 'contacts', ['service_id', 'phone'], unique=False)
    op.create_table('segments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('filter', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('service_id', 'name', name='uq_segments_service_name')
    )
    op.create_table('broadcast_audiences',
    sa.Column('broadcast_id', sa.UUID(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('filter', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('segment_name', sa.Text(), nullable=True),
    sa.Column('exclude_broadcast_id', sa.UUID(), nullable=True),
    sa.Column('id_ceiling', sa.BigInteger(), nullable=False),
    sa.Column('cursor', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('done', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('audience_count', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['broadcast_id'], ['broadcasts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('broadcast_id')
    )


def downgrade():
    op.drop_table('broadcast_audiences')
    op.drop_table('segments')
    op.drop_index('ix_contacts_service_phone', table_name='contacts')
    op.drop_index('ix_contacts_service_id_id', table_name='contacts')
    op.drop_table('contacts')
