"""An index on jobs.finished_at: the operator page reads the last hour of finished jobs.

Revision ID: 0009_jobs_finished_at
Revises: 0008_session_generation
Create Date: 2026-12-03 08:00:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0009_jobs_finished_at'
down_revision = '0008_session_generation'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('jobs_finished_at', 'jobs', ['finished_at'])


def downgrade():
    op.drop_index('jobs_finished_at', table_name='jobs')
