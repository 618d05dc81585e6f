"""The SMTP transport: STARTTLS before anything is sent, and no password over a plain
connection, against a plain SMTP server on this machine."""
from __future__ import annotations

import socketserver
import threading
from email.message import EmailMessage

import pytest

from core.errors import ConfigurationError
from core.mail import SmtpMailer
from core.settings import Settings


class _PlainSmtp(socketserver.StreamRequestHandler):
    """A server that offers AUTH but not STARTTLS, and notes every command it hears."""

    def handle(self):
        self.wfile.write(b"220 catcher ESMTP\r\n")
        for raw in self.rfile:
            line = raw.decode().strip()
            self.server.heard.append(line)
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-catcher\r\n250 AUTH PLAIN LOGIN\r\n")
            elif verb == "DATA":
                self.wfile.write(b"354 go on\r\n")
                for body in self.rfile:
                    if body == b".\r\n":
                        break
                self.wfile.write(b"250 kept\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"235 ok\r\n" if verb == "AUTH" else b"250 ok\r\n")


@pytest.fixture
def plain_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _PlainSmtp)
    server.daemon_threads, server.heard = True, []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "jobs@example.com", "hanako@example.jp", "done"
    msg.set_content("done\n")
    return msg


def test_smtp_login_without_starttls_is_refused():
    with pytest.raises(ConfigurationError, match="SMTP_STARTTLS is off"):
        Settings.from_env({"MAIL_TRANSPORT": "smtp", "SMTP_USER": "jobs",
                           "SMTP_PASSWORD": "secret", "SMTP_STARTTLS": "off"})
    with pytest.raises(ConfigurationError, match="in clear"):
        SmtpMailer("127.0.0.1", 25, "jobs", "secret", starttls=False)


def test_a_server_without_starttls_is_never_sent_the_password_or_the_message(plain_server):
    host, port = plain_server.server_address
    mailer = SmtpMailer(host, port, "jobs", "secret")

    with pytest.raises(ConfigurationError, match="does not offer STARTTLS"):
        mailer.send(_message())

    assert [line.split(" ")[0].upper() for line in plain_server.heard] in (["EHLO"],
                                                                          ["EHLO", "QUIT"])


def test_starttls_is_the_default_and_a_local_catcher_without_login_may_go_without(plain_server):
    assert Settings.from_env({}).smtp_starttls is True
    host, port = plain_server.server_address
    SmtpMailer(host, port, starttls=False).send(_message())
    verbs = [line.split(" ")[0].upper() for line in plain_server.heard]
    assert "AUTH" not in verbs and "DATA" in verbs
