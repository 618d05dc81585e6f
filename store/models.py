"""The tables: the job record (the truth about every job), its pending send, its
documents, uploads, notifications, rate buckets, accounts and tokens. Plain SQLAlchemy
2.0: the web app binds them through Flask-SQLAlchemy (``model_class=Base``), the
workers and Lambdas through ``store.db``."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (CheckConstraint, DateTime, Double, ForeignKey, Index, Integer, String,
                        Text, UniqueConstraint, Uuid, func, text)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core import lifecycle

class Base(DeclarativeBase):
    """Every table of the job system."""


_STATUS_LIST = ", ".join(f"'{s}'" for s in lifecycle.STATUSES)


class Job(Base):
    """One job: what was asked, by whom, how far it got and what came of it."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUS_LIST})", name="jobs_status_valid"),
        CheckConstraint("total >= 0 AND done >= 0 AND failed >= 0", name="jobs_counts_positive"),
        UniqueConstraint("owner", "idempotency_key", name="jobs_owner_idempotency_key"),
        Index("jobs_status_created", "status", "created_at"),
        Index("jobs_kind_created", "kind", "created_at"),
        Index("jobs_owner_created", "owner", "created_at"),
        # The operator page's last hour (store.jobstats).
        Index("jobs_finished_at", "finished_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(20), default=lifecycle.QUEUED,
                                        server_default=lifecycle.QUEUED)
    total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    result: Mapped[dict | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Attempts lost with their whole worker: a budget apart from the message's receives.
    lost_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    worker: Mapped[str | None] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PendingSend(Base):
    """A queued job whose task has not been confirmed sent: written in the transaction
    that queues the job, deleted once the send succeeds; the relay sends what stays.

    No foreign key to ``jobs``, as for documents: the relay drops an entry whose
    job is gone or no longer queued.
    """

    __tablename__ = "pending_sends"
    __table_args__ = (Index("pending_sends_since", "since"),)

    job_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


DOCUMENT_STATUSES = ("pending", "done", "failed")


class PdfDocument(Base):
    """One recipient's document in a pdf_batch job: its data, its outcome, its file.

    No foreign key to ``jobs``: a job's documents go with it by job id, and the
    test suite's ``TRUNCATE jobs`` must not need to know this table.
    """

    __tablename__ = "pdf_documents"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'done', 'failed')",
                        name="pdf_documents_status_valid"),
        Index("pdf_documents_job_status", "job_id", "status"),
    )

    job_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(10), default="pending", server_default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    key: Mapped[str | None] = mapped_column(String(300))
    size: Mapped[int | None] = mapped_column(Integer)
    worker: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RateBucket(Base):
    """A cluster-wide token bucket: every worker takes its tokens from this row."""

    __tablename__ = "rate_buckets"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    tokens: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ImportUpload(Base):
    """A file the API let a client upload for import: who, into which dataset, how.

    The upload notification and the client's own "upload complete" call both
    find the import's owner and options here by the object's key.
    """

    __tablename__ = "import_uploads"

    key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    dataset: Mapped[str] = mapped_column(String(63))
    options: Mapped[dict] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class JobNotification(Base):
    """An e-mail sent about a job's end: at most one per job and outcome.

    The row is inserted in the transaction that sends the message, so a
    redelivered task finds it and sends nothing.
    """

    __tablename__ = "job_notifications"

    job_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    outcome: Mapped[str] = mapped_column(String(20), primary_key=True)
    address: Mapped[str] = mapped_column(String(320))
    transport: Mapped[str] = mapped_column(String(10))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


ROLES = ("user", "operator")


class User(Base):
    """Someone who signs in. Jobs name their owner by ``username``."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('user', 'operator')", name="users_role_valid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(400))
    role: Mapped[str] = mapped_column(String(20), default="user", server_default="user")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Part of every session's and remember cookie's user id: raising it (sign-out,
    # a new password) ends every session the user has, in every browser.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    # What Flask-Login asks of a signed-in user, answered here so that the
    # model needs no web framework (the workers load it too).
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None

    def get_id(self) -> str:
        """The id a session is signed in as: ``<id>:<session generation>``."""
        return f"{self.id}:{self.session_generation}"


class ApiToken(Base):
    """A token for the JSON API. Only its SHA-256 is kept; the user sees it once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
