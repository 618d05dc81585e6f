"""E-mail a job's owner when the job ends: once per job and outcome, whatever redelivers.

Called after every job task runs (``tasks.outcome``), so it covers every kind
and every path that writes a job's final state. The notification row is
inserted in the transaction that sends the message: a second caller waits on
it, then finds it and sends nothing; a failed send rolls it back.
"""
from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import text

from core import aws, lifecycle, mail
from core.settings import Settings
from webapp import accounts
from webapp.extensions import db

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


def job_ended(job_id, settings: Settings | None = None, sender: mail.Mailer | None = None) -> bool:
    """Send the owner of a finished job its e-mail unless one went already; True if sent."""
    settings = settings or current_app.extensions["jobsys.settings"]
    session = db.session
    job = session.execute(text("SELECT * FROM jobs WHERE id = :j"), {"j": job_id}
                          ).mappings().one_or_none()
    if (job is None or job["status"] not in lifecycle.FINISHED
            or job["kind"] not in settings.notify_kinds):
        return False
    sender = sender or mailer(settings)
    address = (accounts.email_of(session, job["owner"])
               or mail.address_for(job["owner"], settings.notify_domain))
    if session.execute(text(_CLAIM), {"j": job_id, "o": job["status"], "a": address,
                                      "t": sender.name}).scalar() is None:
        session.rollback()
        return False
    try:
        sender.send(mail.compose(job, settings.mail_from, address))
    except Exception as exc:
        session.rollback()
        log.warning("job %s: could not e-mail %s (%s): %s", job_id, address, sender.name, exc)
        return False
    session.commit()
    log.info("job %s: %s e-mailed to %s (%s)", job_id, job["status"], address, sender.name)
    return True
