"""Account lockout: after ``login_lockout_failures`` consecutive failed logins an account is refused for
``login_lockout_seconds``, even with the right password. A successful login resets the count; an admin
can unlock sooner (``POST /v1/users/{id}:unlock``), which also ends the account's attempt-rate window so
that the person can sign in at once.

The count lives in Redis per (tenant slug, email), whether or not such an account exists, and a locked
account is answered like the attempt-rate limit: 429 ``rate-limited`` with Retry-After. So a lockout
reveals nothing about which accounts exist.
"""

from __future__ import annotations

from bpo.core.errors import TooManyRequests
from bpo.core.runtime import Runtime
from bpo.tenancy.emails import normalize_email

# Failures further apart than this are not consecutive: a slow guesser still locks within a day.
FAILURE_MEMORY_SECONDS = 86_400


def _keys(tenant: str, email: str) -> tuple[str, str]:
    account = f"{tenant}:{normalize_email(email)}"
    return f"bpo:login:failures:{account}", f"bpo:login:locked:{account}"


def rate_window_key(tenant: str, email: str) -> str:
    """The account's login attempt-rate window (``tenancy.service``; the client's IP has one of its own)."""
    return f"bpo:login:account:{tenant}:{normalize_email(email)}"


async def ensure_unlocked(runtime: Runtime, tenant: str, email: str) -> None:
    _, locked = _keys(tenant, email)
    remaining = await runtime.redis.ttl(locked)
    if remaining > 0:
        raise TooManyRequests(
            f"Too many login attempts; retry in {remaining} s.", headers={"Retry-After": str(remaining)}
        )


async def record_failure(runtime: Runtime, tenant: str, email: str) -> bool:
    """Count a failed login; True when this one locks the account."""
    failures, locked = _keys(tenant, email)
    pipe = runtime.redis.pipeline()
    pipe.incr(failures)
    pipe.expire(failures, FAILURE_MEMORY_SECONDS)
    count, _ = await pipe.execute()
    if count < runtime.settings.login_lockout_failures:
        return False
    pipe = runtime.redis.pipeline()
    pipe.set(locked, 1, ex=runtime.settings.login_lockout_seconds)
    pipe.delete(failures)
    await pipe.execute()
    return True


async def clear(runtime: Runtime, tenant: str, email: str) -> None:
    """Forget the failures, any lock and the account's attempt-rate window: after a successful login, an
    admin's unlock, or an admin restored from the command line."""
    await runtime.redis.delete(*_keys(tenant, email), rate_window_key(tenant, email))
