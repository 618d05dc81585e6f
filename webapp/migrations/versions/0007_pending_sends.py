"""Pending sends: queued jobs whose task has not been confirmed sent, for the relay.

Revision ID: 0007_pending_sends
Revises: 0005_accounts
Create Date: 2026-12-03 04:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0007_pending_sends'
down_revision = '0006_lost_attempts'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('pending_sends',
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('job_id')
    )
    op.create_index('pending_sends_since', 'pending_sends', ['since'], unique=False)


def downgrade():
    op.drop_index('pending_sends_since', table_name='pending_sends')
    op.drop_table('pending_sends')
