"""E-mail about a job's end: who gets it, what it says, and how it leaves.

``Mailer`` is the interface; ``FileMailer`` writes one ``.eml`` per message (the
local default), ``SmtpMailer`` and ``SesMailer`` send, ``MemoryMailer`` keeps
messages in a list. Clients (boto3's SESv2) are passed in.
"""
from __future__ import annotations

import smtplib
import ssl
import uuid
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Mapping

from core import lifecycle
from core.errors import ConfigurationError
from core.settings import PLAIN_SMTP_LOGIN

OUTCOME_WORDS = {lifecycle.SUCCEEDED: "finished", lifecycle.PARTIAL: "finished with failures",
                 lifecycle.FAILED: "failed", lifecycle.CANCELLED: "was cancelled"}


def address_for(owner: str, domain: str) -> str:
    """An owner's e-mail address: the owner itself if it is one, else ``owner@domain``.

    Used for owners without an account (the nightly schedules, health checks).
    """
    return owner if "@" in owner else f"{owner}@{domain}"


def compose(job: Mapping[str, Any], sender: str, to: str) -> EmailMessage:
    """The message about a finished job (a mapping of the job row's fields)."""
    status, result = job["status"], job.get("result") or {}
    what = f"{job['kind']} job" + (f" of {result['dataset']}" if result.get("dataset") else "")
    msg = EmailMessage()
    msg["Subject"] = f"Your {what} {OUTCOME_WORDS.get(status, status)}"
    msg["From"], msg["To"] = sender, to
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(idstring=str(job["id"]))
    lines = [f"Job {job['id']} ({job['kind']}) {OUTCOME_WORDS.get(status, status)}.",
             f"Status: {status}",
             f"Counts: {job.get('done', 0)} done, {job.get('failed', 0)} failed "
             f"of {job.get('total', 0)}"]
    if "rows" in result:
        lines.append(f"Rows: {result['rows']}")
    if result.get("url"):
        lines += ["", f"Download ({result.get('filename', 'file')}, link valid until "
                      f"{result.get('url_expires_at')}):", result["url"]]
    if job.get("error"):
        lines += ["", f"Error: {job['error']}"]
    msg.set_content("\n".join(lines) + "\n")
    return msg


class Mailer:
    """Delivers a message."""

    name = "none"

    def send(self, msg: EmailMessage) -> None:
        raise NotImplementedError


class MemoryMailer(Mailer):
    name = "memory"

    def __init__(self):
        self.sent: list[EmailMessage] = []

    def send(self, msg: EmailMessage) -> None:
        self.sent.append(msg)


class FileMailer(Mailer):
    """Writes each message as an ``.eml`` file in a folder (any mail client opens them)."""

    name = "file"

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def send(self, msg: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.folder / f".{name}.tmp"
        tmp.write_bytes(msg.as_bytes())
        tmp.rename(self.folder / name)  # a reader never sees half a message


class SmtpMailer(Mailer):
    """SMTP with STARTTLS by default. Credentials never cross a plain connection: a
    login without STARTTLS is refused, and so is a server that does not offer it."""

    name = "smtp"

    def __init__(self, host: str, port: int, user: str | None = None,
                 password: str | None = None, starttls: bool = True, timeout: float = 30):
        if user and not starttls:
            raise ConfigurationError(PLAIN_SMTP_LOGIN)
        self.host, self.port, self.user, self.password = host, port, user, password
        self.starttls, self.timeout = starttls, timeout

    def send(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                self._upgrade(smtp)
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(msg)

    def _upgrade(self, smtp: smtplib.SMTP) -> None:
        smtp.ehlo()
        if not smtp.has_extn("starttls"):
            raise ConfigurationError(f"the SMTP server {self.host}:{self.port} does not offer STARTTLS; "
                            f"use its submission port (usually 587), or set SMTP_STARTTLS=off "
                            f"for a local catcher with no login")
        smtp.starttls(context=ssl.create_default_context())
        smtp.ehlo()


class SesMailer(Mailer):
    """Amazon SES (v2 API) with the raw message, so what is sent is what was composed."""

    name = "ses"

    def __init__(self, sesv2):
        self.sesv2 = sesv2

    def send(self, msg: EmailMessage) -> None:
        # No Destination: SES takes the recipients from the message's own headers.
        self.sesv2.send_email(FromEmailAddress=msg["From"],
                              Content={"Raw": {"Data": msg.as_bytes()}})
