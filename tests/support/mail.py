"""The local mail server the tests send to (the one `bpo dev` runs), and reading what it kept."""

from __future__ import annotations

import email
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from bpo.core.mailbox import NAME, LocalMailServer


def kept(server: LocalMailServer) -> list[EmailMessage]:
    """Every message the server stored, oldest first."""
    names = sorted(p.name for p in server.directory.iterdir() if NAME.match(p.name))
    messages = []
    for name in names:
        message = email.message_from_bytes((server.directory / name).read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


@pytest.fixture
def mail_server(tmp_path: Path) -> Iterator[LocalMailServer]:
    with LocalMailServer(tmp_path / "mail") as server:
        yield server
