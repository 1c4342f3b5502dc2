"""Passwords, access tokens, refresh tokens and API keys: the secrets and their formats."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-real-password")
API_KEY_PREFIX = "bpo_"
REFRESH_PREFIX = "rt_"
MIN_PASSWORD_LENGTH = 12
MAX_SIMILARITY = 0.7
# Passwords of the allowed length that top the breach lists, and the words people dress up into one.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "zaq12wsxcde3",
        "qwertyuiopas",
        "qwertyuiop[]",
        "asdfghjkl;'#",
        "abcdefghijkl",
        "abcd12345678",
        "abc123456789",
        "a1b2c3d4e5f6",
        "q1w2e3r4t5y6",
        "1234qwerasdf",
    }
)
COMMON_WORDS = frozenset(
    {
        "password",
        "passwordpassword",
        "qwerty",
        "qwertyuiop",
        "asdfgh",
        "azerty",
        "letmein",
        "welcome",
        "admin",
        "administrator",
        "changeme",
        "iloveyou",
        "trustno",
        "monkey",
        "dragon",
        "football",
        "baseball",
        "sunshine",
        "princess",
        "starwars",
        "superman",
        "whatever",
        "master",
        "secret",
        "login",
        "abc",
        "qazwsx",
    }
)
_LEET = str.maketrans(
    {"@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e", "$": "s", "5": "s", "7": "t"}
)
_TRAILING_NOISE = re.compile(r"[\W\d_]+$")
_SEPARATORS = re.compile(r"[\W_]+")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the user exists (``None`` hash), so timing reveals nothing."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def _guessable(password: str) -> bool:
    """A dictionary word dressed up (``P@ssw0rd2026!``), a keyboard or digit run, or a repeated character."""
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) <= 2:
        return True
    stem = _TRAILING_NOISE.sub("", lowered).translate(_LEET)
    letters = "".join(c for c in stem if c.isalpha())
    return not letters or letters in COMMON_WORDS


def _resembles(password: str, context: Sequence[str]) -> bool:
    """Like Django's UserAttributeSimilarityValidator: the password is close to the email address, a part
    of it, or the tenant's slug."""
    lowered = password.lower()
    for value in context:
        lowered_value = value.lower()
        for part in {lowered_value, *lowered_value.split("@"), *_SEPARATORS.split(lowered_value)}:
            if len(part) < 3:
                continue
            matcher = SequenceMatcher(a=lowered, b=part)
            if matcher.quick_ratio() >= MAX_SIMILARITY and matcher.ratio() >= MAX_SIMILARITY:
                return True
    return False


def password_problems(password: str, context: Sequence[str] = ()) -> list[str]:
    """What is wrong with ``password`` for a user whose email and tenant slug are in ``context``."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 256:
        problems.append("must be at most 256 characters")
    if password.strip() != password or not password.strip():
        problems.append("must not start or end with spaces")
    if _guessable(password):
        problems.append("is a commonly used password")
    if _resembles(password, context):
        problems.append("is too similar to the email address or the tenant")
    return problems


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


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
