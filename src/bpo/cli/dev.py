"""What ``bpo dev`` adds to serving: its child processes and the banner."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import TYPE_CHECKING

from pydantic import SecretStr

from bpo.core.mailbox import LocalMailServer
from bpo.settings import Settings

if TYPE_CHECKING:
    from bpo.onboarding.demo import DemoReports, DemoTenant, Login

# The worker finishes its jobs in flight within this, or is killed.
STOP_GRACE_S = 10.0


def spawn(command: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # A process group of its own, so that the terminal's Ctrl-C reaches only `bpo dev`, which then stops
    # each child once, in order, and kills what it leaves behind (the worker processes Dramatiq forked).
    return subprocess.Popen(list(command), env=env, process_group=0)


def _signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signum)


def stop(children: Sequence[subprocess.Popen[bytes]], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM every child, wait for them to finish, then SIGKILL what is left of their groups. A second
    Ctrl-C (or SIGTERM) cuts the wait short instead of leaving them running."""
    hurry = False

    def cut_short(_signum: int, _frame: FrameType | None) -> None:
        nonlocal hurry
        hurry = True

    previous = {sig: signal.signal(sig, cut_short) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # Only the child itself: the Dramatiq parent passes SIGTERM on to its workers, and a worker that
        # gets a second one stops at once instead of finishing its jobs.
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while not hurry and time.monotonic() < deadline and any(c.poll() is None for c in children):
            time.sleep(0.05)
        # Also whatever a child forked and left behind when it exited.
        for child in children:
            _signal_group(child, signal.SIGKILL)
        for child in children:
            child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def local_mail(settings: Settings, public_url: str) -> Iterator[Settings]:
    """Settings whose links point at ``public_url`` and, when no BPO_SMTP_URL is set, whose mail goes to a
    local server that keeps it in the data dir (``mail/``) for the dev mailbox."""
    settings = settings.model_copy(update={"public_url": settings.public_url or public_url})
    if settings.smtp_url is not None:
        yield settings
        return
    server = LocalMailServer((settings.data_dir / "mail").resolve()).start()
    try:
        yield settings.model_copy(update={"smtp_url": SecretStr(server.url), "dev_mailbox": server.directory})
    finally:
        server.stop()


_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def collapse(emails: Sequence[str]) -> str:
    """Emails on one line: ``staff1…staff16@x`` for a numbered run, ``viewer-{a,b}@x`` for one domain."""
    if len(emails) == 1:
        return emails[0]
    locals_, domains = zip(*(email.rpartition("@")[::2] for email in emails), strict=True)
    if len(set(domains)) > 1:
        return ", ".join(emails)
    domain = domains[0]
    numbered = [_NUMBERED.match(local) for local in locals_]
    if all(numbered) and len({m[1] for m in numbered if m}) == 1:
        stem = numbered[0][1] if numbered[0] else ""
        numbers = sorted(int(m[2]) for m in numbered if m)
        if numbers == list(range(numbers[0], numbers[0] + len(numbers))):
            return f"{stem}{numbers[0]}…{stem}{numbers[-1]}@{domain}"
    prefix = locals_[0]
    while not all(local.startswith(prefix) for local in locals_):
        prefix = prefix[:-1]
    return f"{prefix}{{{','.join(local[len(prefix) :] for local in locals_)}}}@{domain}"


def _login_lines(logins: Sequence[Login], shared_password: str | None) -> list[str]:
    if shared_password is None:
        # One-time passwords are shown only now: one line per person, with theirs.
        rows = [
            (login.role + (f" ({login.client})" if login.client else ""), login.email, login.password)
            for login in logins
        ]
        width = max(len(role) for role, _, _ in rows)
        return [
            f"  {role:<{width}}  {email}  {password or '(password unchanged)'}"
            for role, email, password in rows
        ]
    by_role: dict[str, list[str]] = {}
    for login in logins:
        by_role.setdefault(login.role, []).append(login.email)
    width = max(len(role) for role in by_role)
    return [f"  {role:<{width}}  {collapse(emails)}" for role, emails in by_role.items()]


def describe_reports(reports: DemoReports) -> str | None:
    """The log's line about the demo's weekly client reports, when any were made now."""
    if not reports.sent and not reports.failed:
        return None
    line = f"client reports {reports.period}: mailed for {', '.join(reports.sent) or 'no client'}"
    if reports.failed:
        line += "; not made for " + ", ".join(f"{code} ({why})" for code, why in reports.failed.items())
    return line


def banner(
    url: str, demo: DemoTenant | None, demo_warning: str | None = None, *, mailbox: bool = False
) -> str:
    lines = [
        f"API        {url}",
        f"Docs       {url}/schema",
        f"OpenAPI    {url}/schema/openapi.json",
        f"Dashboard  {url}/dashboard",
        f"Health     {url}/health",
        f"Ready      {url}/ready",
    ]
    if mailbox:
        lines.append(f"Mailbox    {url}/dev/mailbox  (mail is kept here, not sent)")
    if demo is not None and demo.logins:
        passwords = {login.password for login in demo.logins}
        shared = passwords.pop() if len(passwords) == 1 else None
        lines += ["", f"Demo tenant '{demo.slug}'" + (f" — password: {shared}" if shared else "")]
        lines += _login_lines(demo.logins, shared)
    if demo_warning:
        lines += ["", demo_warning]
    return "\n".join(lines)
