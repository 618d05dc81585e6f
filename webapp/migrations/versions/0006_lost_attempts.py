"""Count the attempts of a job lost with their worker.

Revision ID: 0006_lost_attempts
Revises: 0005_accounts
Create Date: 2026-12-03 04:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0006_lost_attempts'
down_revision = '0005_accounts'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('jobs', sa.Column('lost_attempts', sa.Integer(), server_default='0',
                                    nullable=False))


def downgrade():
    op.drop_column('jobs', 'lost_attempts')
