"""E-mails sent about jobs' ends (one per job and outcome).

Revision ID: 0004_exports
Revises: 0003_imports
Create Date: 2026-11-23 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0004_exports'
down_revision = '0003_imports'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('job_notifications',
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('transport', sa.String(length=10), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('job_id', 'outcome')
    )


def downgrade():
    op.drop_table('job_notifications')
