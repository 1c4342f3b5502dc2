"""Redis logical databases of the suite, one per group of processes that must not take each other's jobs:
the session's app and test workers use the URL's own database; these others are flushed by their users."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

# Jobs the demo-activity command relays: no worker of the suite ever picks them up.
DEMO_JOBS_DB = 9
# The end-to-end stack's worker, scheduler and API: they take only the stack's own jobs.
E2E_DB = 10


def other_database(url: str, number: int) -> str:
    if url.startswith("unix://"):
        return f"{url.split('?', 1)[0]}?db={number}"
    return urlunsplit(urlsplit(url)._replace(path=f"/{number}"))
