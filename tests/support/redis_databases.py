"""Redis logical databases of the suite, one per group of processes that must not take each other's jobs:
the session's app and test workers, the demo-activity command's relayed jobs (never picked up) and the
end-to-end stack's worker, scheduler and API. The last two are flushed by their users.

Embedded Redis is one server per pytest process, so each process of a parallel run (pytest-xdist) has
its own. A Redis given by ``BPO_REDIS_URL`` is shared by them all: each parallel process then takes
three databases of its own (worker ``gwN``: 3N+1 to 3N+3, so five processes fit Redis's 16)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

# Without parallel processes: the URL's own database for the session, these for the others.
DEMO_JOBS_DB = 9
E2E_DB = 10


def _parallel_index() -> int | None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker.removeprefix("gw")) if worker.startswith("gw") else None


def session_database(url: str) -> str:
    """The session's own database: the URL's, or this parallel process's first."""
    index = _parallel_index()
    return url if index is None else other_database(url, 3 * index + 1)


def demo_jobs_database(url: str) -> str:
    index = _parallel_index()
    return other_database(url, DEMO_JOBS_DB if index is None else 3 * index + 2)


def e2e_database(url: str) -> str:
    index = _parallel_index()
    return other_database(url, E2E_DB if index is None else 3 * index + 3)


def other_database(url: str, number: int) -> str:
    if url.startswith("unix://"):
        return f"{url.split('?', 1)[0]}?db={number}"
    return urlunsplit(urlsplit(url)._replace(path=f"/{number}"))
