"""Uploads handed out for CSV imports.

Revision ID: 0003_imports
Revises: 0002_pdf_documents
Create Date: 2026-11-23 10:40:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0003_imports'
down_revision = '0002_pdf_documents'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('import_uploads',
    sa.Column('key', sa.String(length=1024), nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('dataset', sa.String(length=63), nullable=False),
    sa.Column('options', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade():
    op.drop_table('import_uploads')
