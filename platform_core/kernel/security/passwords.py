"""Password hashing with argon2id (argon2-cffi), and the rules a password must meet.

One hash or verification costs ~20 ms of CPU and 19 MiB of memory. Async code (the API) calls the
`*_async` variants, which run it in a worker thread, at most `PASSWORD_HASH_THREADS` at once per event
loop (a limiter of their own, apart from the one anyio applies to other blocking calls): the loop keeps
serving other requests meanwhile (argon2-cffi releases the GIL), hashing memory stays bounded, and a
burst of sign-ins cannot take the threads that other blocking calls (S3, Stripe) need.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, partial
from typing import TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from platform_core.kernel.errors import Unprocessable
from platform_core.kernel.settings import get_settings

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


T = TypeVar("T")
_limiter: RunVar[CapacityLimiter] = RunVar("password_hashing_limiter")


def hashing_limiter() -> CapacityLimiter:
    """This event loop's limiter of concurrent hashes (a limiter belongs to one loop)."""
    try:
        return _limiter.get()
    except LookupError:
        limiter = CapacityLimiter(get_settings().password_hash_threads)
        _limiter.set(limiter)
        return limiter


async def _off_the_loop(call: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(call, limiter=hashing_limiter())


async def hash_password_async(password: str) -> str:
    """Hash a password that meets the rules, in a hashing thread (the event loop goes on)."""
    check_password_rules(password)  # a bad password is refused without waiting for a thread
    return await _off_the_loop(partial(hash_password, password))


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    """Check a password as verify_password does, in a hashing thread (the event loop goes on)."""
    return await _off_the_loop(partial(verify_password, password_hash, password))
