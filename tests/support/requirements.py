"""System packages some tests need (Chromium, PgBouncer): skipped where missing on a developer's machine,
a failure under CI (``CI=true``), which installs them and must run every test."""

from __future__ import annotations

import os

import pytest


def require(what: str, found: object, install: str) -> None:
    if found:
        return
    message = f"{what} is not installed ({install})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI=true runs every test, so it must be there", pytrace=False)
    pytest.skip(message)
