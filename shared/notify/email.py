"""E-mail over SMTP: a text and an HTML part, attachments (an .ics invitation), TLS as configured.

SMTP_TLS: `starttls` (port 587, upgrade after EHLO), `ssl` (port 465, TLS from the first byte) or `none` (a relay on
the local network). Reply codes: 4xx and a lost connection are retryable, 5xx (a refused sender or recipient, a
message rejected) is not.
"""
from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from shared.notify import DeliveryError, Message, NotifyConfig, Sent

NAME = "email"


def build_email(message: Message, mail_from: str) -> EmailMessage:
    """The MIME message: text/plain, text/html alternative when given, then the attachments. The Message-ID is
    derived from the idempotency key, so a resent copy is recognisably the same message."""
    mail = EmailMessage()
    mail["From"] = mail_from
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(usegmt=True)
    domain = mail_from.rpartition("@")[2] or "localhost"
    mail["Message-ID"] = f"<{message.idempotency_key}@{domain}>" if message.idempotency_key else make_msgid()
    mail.set_content(message.text, charset="utf-8")
    if message.html:
        mail.add_alternative(message.html, subtype="html", charset="utf-8")
    for att in message.attachments:
        maintype, _, rest = att.content_type.partition("/")
        subtype, _, params = rest.partition(";")
        extra = {}
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k:
                extra[k] = v
        mail.add_attachment(att.data, maintype=maintype, subtype=subtype.strip(), filename=att.filename,
                            params=extra)
    return mail


class SmtpChannel:
    name = NAME

    def __init__(self, config: NotifyConfig):
        if config.smtp_tls not in ("starttls", "ssl", "none"):
            raise ValueError("SMTP_TLS must be starttls, ssl or none")
        self.config = config

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        if c.smtp_tls == "ssl":
            return smtplib.SMTP_SSL(c.smtp_host, c.smtp_port, timeout=c.timeout_seconds,
                                    context=ssl.create_default_context())
        smtp = smtplib.SMTP(c.smtp_host, c.smtp_port, timeout=c.timeout_seconds)
        if c.smtp_tls == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        return smtp

    def send(self, message: Message) -> Sent:
        mail = build_email(message, self.config.mail_from)
        try:
            with self._connect() as smtp:
                if self.config.smtp_user:
                    smtp.login(self.config.smtp_user, self.config.smtp_password)
                refused = smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(NAME, "recipient refused", retryable=all(400 <= c < 500 for c in codes),
                                code=str(codes[0]) if codes else None) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(NAME, "server refused the message", retryable=400 <= exc.smtp_code < 500,
                                code=str(exc.smtp_code)) from None
        except (smtplib.SMTPException, OSError, socket.timeout) as exc:
            raise DeliveryError(NAME, f"connection failed: {type(exc).__name__}", retryable=True) from None
        if refused:
            raise DeliveryError(NAME, "recipient refused", retryable=False)
        return Sent(NAME, provider_id=mail["Message-ID"])
