"""Password hashing with argon2id (argon2-cffi), and the rules a password must meet."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from platform_core.errors import Unprocessable

MIN_LENGTH = 10
MAX_LENGTH = 128


class InvalidPassword(Unprocessable):
    """The password does not meet the rules."""

    code = "invalid_password"


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    """argon2id with OWASP's minimum: 19 MiB of memory, 2 iterations, 1 lane."""
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def check_password_rules(password: str) -> str:
    """Return the password if it is 10-128 characters long; raise InvalidPassword otherwise."""
    if not isinstance(password, str) or not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidPassword(
            f"A password has {MIN_LENGTH} to {MAX_LENGTH} characters.",
            details={"min_length": MIN_LENGTH, "max_length": MAX_LENGTH},
        )
    return password


def hash_password(password: str) -> str:
    """Hash a password that meets the rules."""
    return hasher().hash(check_password_rules(password))


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hasher().hash("a password nobody has: used to spend the same time")


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; with no hash (unknown user) spend the same time and return False."""
    try:
        return hasher().verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash used weaker parameters than today's (rehash at the next login)."""
    return hasher().check_needs_rehash(password_hash)
