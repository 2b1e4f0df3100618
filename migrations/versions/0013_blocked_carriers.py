"""Audit rows of account-level acts: an operator closing a gateway account's circuit breaker.

Accounts are shared by every service, so such a row may name no service (a close from the CLI);
broadcast rows still always name theirs.

Revision ID: 0013_blocked_carriers
Revises: 0012_consent
"""
from alembic import op


revision = '0013_blocked_carriers'
down_revision = '0012_consent'
branch_labels = None
depends_on = None


def upgrade():
    op.alter_column('audit_log', 'service_id', nullable=True)


def downgrade():
    op.execute("DELETE FROM audit_log WHERE service_id IS NULL")
    op.alter_column('audit_log', 'service_id', nullable=False)
