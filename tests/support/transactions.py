"""One transaction per test, underneath the app's engines: the app binds and commits as in production.

SQLAlchemy's "join a session into an external transaction" recipe binds sessions to one Connection, which
would bypass how the app binds its sessions (engine copies, one per tenant schema, binding.py). Here the
recipe is applied one level lower, on the database connection itself: the test's engine has a single
psycopg connection that begins a transaction and a savepoint when it connects; a commit releases the
savepoint and takes a new one, a rollback returns to it. Everything above (engines, engine copies,
sessions, the request's unit of work) is the production code. At the end of the test, the transaction is
rolled back whole.
"""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy import event, pool
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from platform_core.kernel.db.dialect import guarded_url
from platform_core.kernel.db.engines import connect_args
from platform_core.kernel.settings import Settings

SAVEPOINT = "test_unit_of_work"


class SavepointConnection(psycopg.AsyncConnection[Any]):
    """A psycopg connection inside one transaction: commit and rollback act on a savepoint of it."""

    ended = False

    async def commit(self) -> None:
        """Keep what the savepoint holds, and open the next one."""
        if self.ended:
            return await super().commit()
        await self.execute(f"RELEASE SAVEPOINT {SAVEPOINT}")
        await self.execute(f"SAVEPOINT {SAVEPOINT}")
        return None

    async def rollback(self) -> None:
        """Undo what happened since the last commit (it also recovers a failed statement)."""
        if self.ended:
            return await super().rollback()
        await self.execute(f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")
        return None

    async def end(self) -> None:
        """Roll the whole transaction back: nothing of the test stays."""
        self.ended = True
        await super().rollback()


class OneTransaction:
    """An async engine for the app whose only connection stays inside one transaction until `end`.

    Every checkout gets the same connection (StaticPool): a session opened while another is open
    shares its transaction, as the sessions of the app and of the test code must. The pool does not
    roll back on return, which would undo the work of a session still open on the same connection;
    each session ends its own transaction.
    """

    def __init__(self, settings: Settings) -> None:
        self._connections: list[SavepointConnection] = []
        self.engine: AsyncEngine = create_async_engine(
            guarded_url(settings.sync_database_url),
            poolclass=pool.StaticPool,
            pool_reset_on_return=None,
            connect_args=connect_args(settings),
        )
        event.listen(self.engine.sync_engine, "do_connect", self._use_savepoint_connection)

    def _use_savepoint_connection(
        self, dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]
    ) -> None:
        # The dialect's own arguments (its adapters, our connect_args) are kept; only the class differs.
        async def connect(*args: Any, **kwargs: Any) -> SavepointConnection:
            connection = await SavepointConnection.connect(*args, **kwargs)
            await connection.execute(f"SAVEPOINT {SAVEPOINT}")  # psycopg begins the transaction first
            self._connections.append(connection)
            return connection

        cparams["async_creator_fn"] = connect

    async def end(self) -> None:
        """Roll back everything the test did, and close the engine."""
        for connection in self._connections:
            if not connection.closed:
                await connection.end()
        await self.engine.dispose()
