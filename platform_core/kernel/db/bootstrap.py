"""Create the platform database on a server when it does not exist yet (dev stack, tests)."""

from __future__ import annotations

import psycopg
from psycopg import sql

from platform_core.kernel.settings import to_libpq_url


def ensure_database(url: str) -> bool:
    """Create the database named in `url` if missing; return whether it was created."""
    conninfo = psycopg.conninfo.conninfo_to_dict(to_libpq_url(url))
    name = str(conninfo.get("dbname") or "postgres")
    admin = psycopg.conninfo.make_conninfo(to_libpq_url(url), dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def drop_database(url: str) -> None:
    """Drop the database named in `url` (tests only), closing its connections first."""
    conninfo = psycopg.conninfo.conninfo_to_dict(to_libpq_url(url))
    name = str(conninfo.get("dbname"))
    admin = psycopg.conninfo.make_conninfo(to_libpq_url(url), dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
