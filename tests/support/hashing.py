"""Where argon2 runs: the threads of the hashes and verifications the code under test makes."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from argon2 import PasswordHasher


def hashing_threads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the thread of every argon2 hash and verification from now on (the real ones run)."""
    threads: list[int] = []
    for name in ("hash", "verify"):
        real = getattr(PasswordHasher, name)

        def spy(self: PasswordHasher, *args: Any, _real: Any = real, **kwargs: Any) -> Any:
            threads.append(threading.get_ident())
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(PasswordHasher, name, spy)
    return threads
