"""Session generation: part of every session's user id, raised to end them all.

Revision ID: 0008_session_generation
Revises: 0007_pending_sends
Create Date: 2026-12-03 07:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0008_session_generation'
down_revision = '0007_pending_sends'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('session_generation', sa.Integer(), server_default='0',
                                     nullable=False))


def downgrade():
    op.drop_column('users', 'session_generation')
