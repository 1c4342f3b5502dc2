"""Outgoing mail: composing a multipart message, sending it over SMTP, and telling a bounce from an outage.

Callers render their text and HTML from Jinja2 templates (``mail_templates``: each context's
``templates/mail/`` over the shared layout here in ``bpo/core/templates/mail/``) and queue the result
(``bpo.delivery.messages``); only a job sends. ``send`` raises ``PermanentFailure`` when the server refuses
the message or its recipient for good (a 5xx reply), and ``TransientFailure`` when trying later may work
(no connection, a timeout, a 4xx reply, refused credentials: a setting to fix, after which the mail goes).
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined, select_autoescape

from bpo.core import i18n

# Stamped on every message: the tenant it is for (the dev mailbox shows each operator only its own).
TENANT_HEADER = "X-BPO-Tenant"
MESSAGE_HEADER = "X-BPO-Message"
TIMEOUT_S = 30.0
ERROR_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Mail:
    sender: str
    recipient: str
    subject: str
    text: str
    html: str | None = None
    attachments: Sequence[Attachment] = ()
    # Headers of our own (TENANT_HEADER, MESSAGE_HEADER) and, for a stable Message-ID, the message's id.
    headers: tuple[tuple[str, str], ...] = ()
    message_id: str | None = None


class MailFailure(Exception):
    """The attempt failed; ``reason`` is the server's reply or what went wrong, for the delivery log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:ERROR_LIMIT]


class PermanentFailure(MailFailure):
    pass


class TransientFailure(MailFailure):
    pass


def compose(mail: Mail) -> EmailMessage:
    """text/plain, with an HTML alternative when given, then the attachments (multipart/mixed)."""
    message = EmailMessage()
    message["From"] = mail.sender
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    domain = mail.sender.rpartition("@")[2].strip("> ") or "localhost"
    message["Message-ID"] = f"<{mail.message_id}@{domain}>" if mail.message_id else make_msgid(domain=domain)
    for name, value in mail.headers:
        message[name] = value
    message.set_content(mail.text)
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html")
    for attachment in mail.attachments:
        maintype, _, subtype = attachment.mime_type.partition("/")
        message.add_attachment(
            attachment.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
    return message


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    username: str | None
    password: str | None
    # smtps://: TLS from the first byte; smtp:// with ?starttls=true: upgraded after the greeting.
    implicit_tls: bool
    starttls: bool
    validate_certs: bool = True

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise ValueError("an SMTP URL is smtp://[user:password@]host[:port][?starttls=true] or smtps://…")
        query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit,
            starttls=not implicit and query.get("starttls") in {"true", "1", "yes"},
            validate_certs=query.get("verify") not in {"false", "0", "no"},
        )


def _reply(error: aiosmtplib.SMTPResponseException) -> str:
    return f"{error.code} {error.message}".strip()


async def send(server: SmtpServer, mail: Mail, *, timeout_s: float = TIMEOUT_S) -> None:
    message = compose(mail)
    try:
        await aiosmtplib.send(
            message,
            sender=mail.sender,
            recipients=[mail.recipient],
            hostname=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.implicit_tls,
            start_tls=server.starttls,
            validate_certs=server.validate_certs,
            tls_context=None if server.validate_certs else _unverified(),
            timeout=timeout_s,
        )
    except aiosmtplib.SMTPRecipientsRefused as error:
        refusals = error.recipients
        raise _classified(refusals[0] if refusals else None, "the server refused the recipient") from None
    except aiosmtplib.SMTPAuthenticationError as error:
        raise TransientFailure(f"the SMTP server refused our credentials: {_reply(error)}") from None
    except aiosmtplib.SMTPResponseException as error:
        raise _classified(error, _reply(error)) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
        raise TransientFailure(f"{type(error).__name__}: {error}".rstrip(": ")) from None


def _classified(error: aiosmtplib.SMTPResponseException | None, fallback: str) -> MailFailure:
    if error is None:
        return PermanentFailure(fallback)
    reply = _reply(error)
    return PermanentFailure(reply) if 500 <= error.code < 600 else TransientFailure(reply)


def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def absolute_url(base: str, path: str) -> str:
    """A link for a mail: ``path`` (``/dashboard/clients/…``) under the public base URL."""
    return base.rstrip("/") + "/" + path.lstrip("/")


def mail_templates(*packages: str) -> Environment:
    """Jinja2 for mails: ``templates/mail/…`` of each package in ``packages`` first, then the shared layout
    (``mail/layout.html``, ``mail/layout.txt``). HTML is escaped; ``.txt`` templates are not. Render with
    ``i18n.render`` so that ``{% trans %}`` and the locale filters speak the recipient's language."""
    loaders = [PackageLoader(package, "templates") for package in (*packages, "bpo.core")]
    return i18n.environment(
        ChoiceLoader(loaders),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
