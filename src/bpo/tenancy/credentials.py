"""Passwords, access tokens, refresh tokens and API keys: the secrets and their formats."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bpo.tenancy.scope import Role

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-real-password")
ALGORITHM = "HS256"
ISSUER = "bpo-ops"
API_KEY_PREFIX = "bpo_"
REFRESH_PREFIX = "rt_"
MIN_PASSWORD_LENGTH = 12


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the user exists (``None`` hash), so timing reveals nothing."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_problems(password: str) -> list[str]:
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 256:
        problems.append("must be at most 256 characters")
    if password.strip() != password or not password.strip():
        problems.append("must not start or end with spaces")
    return problems


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AccessClaims:
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    role: Role
    client_id: uuid.UUID | None
    staff_id: uuid.UUID | None


def issue_access_token(key: str, claims: AccessClaims, ttl_seconds: int) -> str:
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "typ": "access",
        "sub": str(claims.user_id),
        "tid": str(claims.tenant_id),
        "role": claims.role.value,
        "cid": str(claims.client_id) if claims.client_id else None,
        "sid": str(claims.staff_id) if claims.staff_id else None,
        "iat": now,
        "exp": now + ttl_seconds,
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def decode_access_token(key: str, token: str) -> AccessClaims:
    """Raises ``jwt.InvalidTokenError`` (expired, bad signature, malformed, wrong type)."""
    payload = jwt.decode(
        token,
        key,
        algorithms=[ALGORITHM],
        issuer=ISSUER,
        options={"require": ["exp", "iat", "sub", "tid", "role", "iss"]},
    )
    if payload.get("typ") != "access":
        raise jwt.InvalidTokenError("not an access token")
    try:
        role = Role(payload["role"])
        return AccessClaims(
            tenant_id=uuid.UUID(payload["tid"]),
            user_id=uuid.UUID(payload["sub"]),
            role=role,
            client_id=uuid.UUID(payload["cid"]) if payload.get("cid") else None,
            staff_id=uuid.UUID(payload["sid"]) if payload.get("sid") else None,
        )
    except (ValueError, TypeError) as exc:
        raise jwt.InvalidTokenError("malformed claims") from exc


@dataclass(frozen=True, slots=True)
class OpaqueSecret:
    """``<prefix><tenant hex>_<secret>``: the tenant part lets the lookup run under RLS."""

    tenant_id: uuid.UUID
    secret: str

    def render(self, prefix: str) -> str:
        return f"{prefix}{self.tenant_id.hex}_{self.secret}"

    @property
    def lookup(self) -> str:
        return self.secret[:12]

    @property
    def digest(self) -> str:
        return sha256(self.secret)


def new_secret(tenant_id: uuid.UUID) -> OpaqueSecret:
    return OpaqueSecret(tenant_id, secrets.token_urlsafe(32))


def parse_secret(value: str, prefix: str) -> OpaqueSecret | None:
    if not value.startswith(prefix):
        return None
    tenant_hex, sep, secret = value[len(prefix) :].partition("_")
    if not sep or len(tenant_hex) != 32 or len(secret) < 32 or len(secret) > 64:
        return None
    try:
        return OpaqueSecret(uuid.UUID(hex=tenant_hex), secret)
    except ValueError:
        return None


def digests_match(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
