"""E-mail a job's owner when the job ends: once per job and outcome, whatever redelivers.

Called after every job task that ended a job or found it ended
(``tasks.runtime``), and by the dead-letter sweep, so it covers every kind and
every path that writes a job's final state. The notification row is
inserted in the transaction that sends the message: a second caller waits on
it, then finds it and sends nothing; a failed send rolls it back.
"""
from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.orm import Session

from core import aws, lifecycle, mail
from core.settings import Settings
from store import accounts
from store.models import Job

log = logging.getLogger(__name__)
_mailers: dict[tuple, mail.Mailer] = {}

_CLAIM = """
INSERT INTO job_notifications (job_id, outcome, address, transport)
VALUES (:j, :o, :a, :t) ON CONFLICT DO NOTHING RETURNING job_id"""


def mailer(settings: Settings) -> mail.Mailer:
    """This process's mailer for the configured transport."""
    key = (settings.mail_transport, settings.mail_dir, settings.smtp_host, settings.smtp_port)
    if key not in _mailers:
        if settings.mail_transport == "smtp":
            _mailers[key] = mail.SmtpMailer(settings.smtp_host, settings.smtp_port,
                                            settings.smtp_user, settings.smtp_password,
                                            settings.smtp_starttls)
        elif settings.mail_transport == "ses":
            _mailers[key] = mail.SesMailer(aws.client(settings, "sesv2"))
        else:
            _mailers[key] = mail.FileMailer(settings.mail_dir)
    return _mailers[key]


def job_ended(session: Session, job: Job, settings: Settings,
              sender: mail.Mailer | None = None) -> bool:
    """Send the owner of a finished job (its row as it ended) its e-mail unless one
    went already; True if sent. Commits, or rolls back, its own notification row."""
    if job.status not in lifecycle.FINISHED or job.kind not in settings.notify_kinds:
        return False
    sender = sender or mailer(settings)
    address = (accounts.email_of(session, job.owner)
               or mail.address_for(job.owner, settings.notify_domain))
    if session.execute(text(_CLAIM), {"j": job.id, "o": job.status, "a": address,
                                      "t": sender.name}).scalar() is None:
        session.rollback()
        return False
    try:
        sender.send(mail.compose(_fields(job), settings.mail_from, address))
    except Exception as exc:
        session.rollback()
        log.warning("job %s: could not e-mail %s (%s): %s", job.id, address, sender.name, exc)
        return False
    session.commit()
    log.info("job %s: %s e-mailed to %s (%s)", job.id, job.status, address, sender.name)
    return True


def _fields(job: Job) -> dict:
    return {column.key: getattr(job, column.key) for column in Job.__table__.columns}
