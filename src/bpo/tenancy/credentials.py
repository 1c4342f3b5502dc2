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


def decode_access_token(key: str, token: str) -> tuple[AccessClaims, int]:
    """The claims and expiry (epoch seconds). Raises ``jwt.InvalidTokenError`` (expired, bad signature,
    malformed, wrong type)."""
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
        claims = AccessClaims(
            tenant_id=uuid.UUID(payload["tid"]),
            user_id=uuid.UUID(payload["sub"]),
            role=role,
            client_id=uuid.UUID(payload["cid"]) if payload.get("cid") else None,
            staff_id=uuid.UUID(payload["sid"]) if payload.get("sid") else None,
        )
        return claims, int(payload["exp"])
    except (ValueError, TypeError) as exc:
        raise jwt.InvalidTokenError("malformed claims") from exc


class AccessTokenVerifier:
    """Verifies access tokens, remembering verified ones until they expire: a client sends the same
    token on every request, and checking its signature each time costs more than the rest of auth."""

    def __init__(self, key: str, capacity: int = 50_000) -> None:
        self.key = key
        self.capacity = capacity
        self._verified: dict[str, tuple[AccessClaims, int]] = {}

    def verify(self, token: str) -> AccessClaims:
        hit = self._verified.get(token)
        if hit is not None:
            claims, expires = hit
            if expires > time.time():
                return claims
            del self._verified[token]
            raise jwt.ExpiredSignatureError("Signature has expired")
        claims, expires = decode_access_token(self.key, token)
        if len(self._verified) >= self.capacity:
            # Oldest first: dicts keep insertion order.
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (claims, expires)
        return claims


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
