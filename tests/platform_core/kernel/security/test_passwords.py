"""argon2id password hashing and the password rules."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from argon2 import PasswordHasher

from platform_core.kernel.security.passwords import (
    InvalidPassword,
    check_password_rules,
    hash_password,
    hashing_limiter,
    needs_rehash,
    verify_password,
    verify_password_async,
)
from platform_core.kernel.settings import get_settings


def test_hash_is_argon2id_and_verifies():
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "m=19456,t=2,p=1" in stored
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse batterY")
    assert not needs_rehash(stored)


def test_same_password_hashes_differently():
    assert hash_password("0123456789") != hash_password("0123456789")


@pytest.mark.parametrize("password", ["short", "x" * 9, "x" * 129, ""])
def test_length_rules(password):
    with pytest.raises(InvalidPassword) as excinfo:
        check_password_rules(password)
    assert excinfo.value.status_code == 422
    assert excinfo.value.details == {"min_length": 10, "max_length": 128}


def test_unknown_user_costs_a_real_verification():
    """No hash (unknown email) still runs argon2, so timing does not reveal whether the account exists."""
    stored = hash_password("a real password")
    start = time.perf_counter()
    for _ in range(3):
        assert not verify_password(None, "guess guess guess")
    unknown = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(3):
        assert not verify_password(stored, "guess guess guess")
    known = time.perf_counter() - start
    # Same order of magnitude (both run argon2); a skipped check would be ~1000x faster.
    assert unknown > known / 10


def test_garbage_hash_is_a_failed_login_not_an_error():
    assert not verify_password("not-a-hash", "whatever password")


async def test_at_most_password_hash_threads_hashes_run_at_once(monkeypatch):
    monkeypatch.setenv("PASSWORD_HASH_THREADS", "2")
    get_settings.cache_clear()
    entered = threading.Semaphore(0)
    release = threading.Event()
    real_verify = PasswordHasher.verify

    def held_verify(self: PasswordHasher, *args: Any, **kwargs: Any) -> Any:
        entered.release()
        release.wait(timeout=10)
        return real_verify(self, *args, **kwargs)

    monkeypatch.setattr(PasswordHasher, "verify", held_verify)
    stored = hash_password("a real password")
    checks = [asyncio.create_task(verify_password_async(stored, "a real password")) for _ in range(4)]
    try:
        for _ in range(2):
            assert await asyncio.to_thread(entered.acquire, True, 10)
        limiter = hashing_limiter()
        assert (limiter.total_tokens, limiter.borrowed_tokens) == (2, 2)
        assert limiter.statistics().tasks_waiting == 2  # the other two wait for a hashing thread
    finally:
        release.set()
        get_settings.cache_clear()
    assert await asyncio.gather(*checks) == [True] * 4
