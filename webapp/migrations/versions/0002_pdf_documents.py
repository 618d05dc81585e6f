"""Documents of pdf_batch jobs, and cluster-wide rate-limit buckets.

Revision ID: 0002_pdf_documents
Revises: 0001_jobs
Create Date: 2026-11-30 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0002_pdf_documents'
down_revision = '0001_jobs'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('pdf_documents',
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=200), nullable=False),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='pending', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('key', sa.String(length=300), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('worker', sa.String(length=200), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'done', 'failed')", name='pdf_documents_status_valid'),
    sa.PrimaryKeyConstraint('job_id', 'seq')
    )
    op.create_index('pdf_documents_job_status', 'pdf_documents', ['job_id', 'status'], unique=False)
    op.create_table('rate_buckets',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('tokens', sa.Double(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade():
    op.drop_table('rate_buckets')
    op.drop_index('pdf_documents_job_status', table_name='pdf_documents')
    op.drop_table('pdf_documents')
