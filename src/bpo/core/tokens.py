"""Access tokens: signed JWTs naming the tenant, user, role, binding and the user's token version, and
their verification."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass

import jwt

from bpo.core.scope import Role

ALGORITHM = "HS256"
ISSUER = "bpo-ops"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    role: Role
    client_id: uuid.UUID | None
    staff_id: uuid.UUID | None
    # The user's token version at issue: the token holds only while the user's version is still this one.
    token_version: int = 0
    # The user still has a one-time password: the token serves only to change it (the version moves on then).
    must_change_password: bool = False


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
        "ver": claims.token_version,
        **({"pwc": True} if claims.must_change_password else {}),
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
    # Tokens issued before versions were carried count as version 0.
    version = payload.get("ver", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise jwt.InvalidTokenError("malformed claims")
    try:
        role = Role(payload["role"])
        claims = AccessClaims(
            tenant_id=uuid.UUID(payload["tid"]),
            user_id=uuid.UUID(payload["sub"]),
            role=role,
            client_id=uuid.UUID(payload["cid"]) if payload.get("cid") else None,
            staff_id=uuid.UUID(payload["sid"]) if payload.get("sid") else None,
            token_version=version,
            must_change_password=payload.get("pwc") is True,
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
