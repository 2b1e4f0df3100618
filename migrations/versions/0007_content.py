"""Content: the suppression list (opt-outs) with its audit trail, and versioned templates.

Revision ID: 0007_content
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_content'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'opt_outs',
        sa.Column('service_id', sa.Integer(), sa.ForeignKey('services.id', ondelete='CASCADE'), nullable=False),
        sa.Column('channel', sa.Text(), nullable=False),
        sa.Column('address', sa.Text(), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('service_id', 'channel', 'address'),
    )
    op.create_table(
        'opt_out_events',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('service_id', sa.Integer(), sa.ForeignKey('services.id', ondelete='CASCADE'), nullable=False),
        sa.Column('channel', sa.Text(), nullable=False),
        sa.Column('address', sa.Text(), nullable=False),
        sa.Column('action', sa.Text(), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('actor', sa.Text(), nullable=False),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_opt_out_events_address', 'opt_out_events', ['service_id', 'channel', 'address', 'id'])
    op.create_table(
        'templates',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('service_id', sa.Integer(), sa.ForeignKey('services.id', ondelete='CASCADE'), nullable=False),
        sa.Column('channel', sa.Text(), nullable=False),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('language', sa.Text(), server_default='', nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_by', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('service_id', 'channel', 'name', 'language', 'version', name='uq_templates_version'),
    )


def downgrade():
    op.drop_table('templates')
    op.drop_index('ix_opt_out_events_address', table_name='opt_out_events')
    op.drop_table('opt_out_events')
    op.drop_table('opt_outs')
