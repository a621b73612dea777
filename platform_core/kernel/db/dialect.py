"""The psycopg dialect with the fail-closed tenant guard built in.

A statement that still names the tenant placeholder schema was sent with no tenant bound; it is refused
before it reaches the database. The check lives in the dialect's execute methods rather than in a
`before_cursor_execute` event: any engine event turns on SQLAlchemy's per-execution event dispatch,
which cost more CPU per request than the check itself (bench/tenancy_overhead.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg, PGDialectAsync_psycopg
from sqlalchemy.engine import URL, make_url

from platform_core.kernel.db.base import TENANT_SCHEMA
from platform_core.kernel.errors import AppError

DRIVER = "psycopg_guarded"
PLACEHOLDER = f"{TENANT_SCHEMA}."  # how SQLAlchemy renders an untranslated tenant table: __tenant__.item


class TenantNotBoundError(AppError):
    """A statement touched tenant tables with no tenant bound: a programming error, refused."""

    status_code = 500
    code = "tenant_not_bound"
    message = "A tenant table was queried with no tenant bound."


def refuse_unbound(statement: str) -> None:
    """Fail closed: refuse SQL that still names the tenant placeholder schema."""
    if PLACEHOLDER in statement:
        raise TenantNotBoundError


class _Guarded:
    # A mixin: the dialect it comes before in the MRO supplies the do_execute* methods `super()` calls,
    # which mypy cannot see from here (hence the `misc` ignores below).
    def do_execute(self, cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        refuse_unbound(statement)
        super().do_execute(cursor, statement, parameters, context)  # type: ignore[misc]

    def do_execute_no_params(self, cursor: Any, statement: str, context: Any = None) -> None:
        refuse_unbound(statement)
        super().do_execute_no_params(cursor, statement, context)  # type: ignore[misc]

    def do_executemany(self, cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        refuse_unbound(statement)
        super().do_executemany(cursor, statement, parameters, context)  # type: ignore[misc]


class GuardedPsycopg(_Guarded, PGDialect_psycopg):
    """psycopg 3 (sync), refusing unbound tenant SQL."""

    supports_statement_cache = True  # the subclass changes no SQL rendering

    @classmethod
    def get_async_dialect_cls(cls, url: URL) -> type[GuardedPsycopgAsync]:
        """The async twin, for create_async_engine."""
        return GuardedPsycopgAsync


class GuardedPsycopgAsync(_Guarded, PGDialectAsync_psycopg):
    """psycopg 3 (async), refusing unbound tenant SQL."""

    supports_statement_cache = True


registry.register(f"postgresql.{DRIVER}", __name__, "GuardedPsycopg")


def guarded_url(url: str) -> URL:
    """The same database URL, served by the guarded dialect."""
    return make_url(url).set(drivername=f"postgresql+{DRIVER}")
