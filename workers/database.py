"""One Database per worker process, created after the fork."""

from __future__ import annotations

import os

from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import get_settings

_db: Database | None = None
_pid: int | None = None


def worker_database() -> Database:
    """This process's Database (a forked child never reuses its parent's pool)."""
    global _db, _pid
    if _db is None or _pid != os.getpid():
        _db = Database(get_settings(), pool_size=2)
        _pid = os.getpid()
    return _db
