"""The local mail server of development and tests, and reading what it kept.

``LocalMailServer`` is an SMTP server (aiosmtpd) on 127.0.0.1 that accepts every message and stores it
as one ``.eml`` file in a folder; ``bpo dev`` points the app and the worker at it when no BPO_SMTP_URL is
set, and the dev mailbox pages read the folder back (``stored``, ``read``), each operator only the
messages stamped with its tenant (``mail.TENANT_HEADER``).
"""

from __future__ import annotations

import os
import re
import socket
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from bpo.core.mail import TENANT_HEADER

HOST = "127.0.0.1"
NAME = re.compile(r"^\d{19}-[0-9a-f]{32}\.eml$")
# The newest this many are listed; older ones stay on disk.
LIST_LIMIT = 200


def free_port(host: str = HOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class _StoringHandler:
    """aiosmtpd's handler: its hooks are named by the protocol's verbs."""

    def __init__(self, directory: Path, refused: Collection[str]) -> None:
        self.directory = directory
        self.refused = refused

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in {a.lower() for a in self.refused}:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = f"{time.time_ns():019d}-{uuid.uuid4().hex}.eml"
        partial = self.directory / f".{name}.part"
        partial.write_bytes(envelope.original_content or envelope.content)
        # Whole files only: a reader never sees a half-written message.
        os.replace(partial, self.directory / name)
        return "250 OK stored"


@dataclass
class LocalMailServer:
    """Stores every message in ``directory``; refuses recipients in ``refused`` with a 550 (tests)."""

    directory: Path
    port: int = 0
    refused: set[str] = field(default_factory=set)
    _controller: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"smtp://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> LocalMailServer:
        from aiosmtpd.controller import Controller

        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        # The same port on a restart, so that a sender configured with its URL reaches it again.
        # Recipients to refuse are read on every RCPT: a test may change them while it runs.
        self._controller = Controller(
            _StoringHandler(self.directory, self.refused),
            hostname=HOST,
            port=self.port,
            ready_timeout=10,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> LocalMailServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- reading the folder back ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredAttachment:
    filename: str
    mime_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class StoredMail:
    name: str
    received_at: datetime
    sender: str
    recipient: str
    subject: str
    tenant: str | None
    text: str | None
    html: str | None
    attachments: tuple[StoredAttachment, ...]


def _parse(path: Path) -> EmailMessage:
    with path.open("rb") as file:
        message = BytesParser(policy=policy.default).parse(file)
    assert isinstance(message, EmailMessage)
    return message


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    content = part.get_content()
    return content if isinstance(content, str) else None


def _payload(part: EmailMessage) -> bytes:
    content = part.get_payload(decode=True)
    return content if isinstance(content, bytes) else b""


def _stored(path: Path, message: EmailMessage) -> StoredMail:
    attachments = tuple(
        StoredAttachment(
            filename=part.get_filename() or "attachment",
            mime_type=part.get_content_type(),
            content=_payload(part),
        )
        for part in message.iter_attachments()
        if isinstance(part, EmailMessage)
    )
    return StoredMail(
        name=path.name,
        received_at=datetime.fromtimestamp(int(path.name[:19]) / 1e9, UTC),
        sender=str(message.get("From", "")),
        recipient=str(message.get("To", "")),
        subject=str(message.get("Subject", "")),
        tenant=message.get(TENANT_HEADER),
        text=_body(message, "plain"),
        html=_body(message, "html"),
        attachments=attachments,
    )


def stored(directory: Path, tenant: str, limit: int = LIST_LIMIT) -> list[StoredMail]:
    """The tenant's messages, newest first."""
    if not directory.is_dir():
        return []
    names = sorted((p.name for p in directory.iterdir() if NAME.match(p.name)), reverse=True)
    found = []
    for name in names:
        path = directory / name
        message = _parse(path)
        if message.get(TENANT_HEADER) == tenant:
            found.append(_stored(path, message))
            if len(found) >= limit:
                break
    return found


def read(directory: Path, tenant: str, name: str) -> StoredMail | None:
    """One of the tenant's messages by file name; None when there is none (or it is another tenant's)."""
    path = directory / name
    if not NAME.match(name) or not path.is_file():
        return None
    message = _parse(path)
    if message.get(TENANT_HEADER) != tenant:
        return None
    return _stored(path, message)
