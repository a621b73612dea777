"""When PostgreSQL is down, and how a pooled connection the server closed is noticed without a round trip.

A request that cannot reach the database answers 503 `database_unavailable` (error_handlers.py), and the
process recovers by itself once the server is back: a pooled connection that the server closed (a
restart, a terminated backend) is discarded at checkout and replaced, so it never fails a request.
The check costs no round trip: an idle connection in the pool has nothing to read unless the server
has written to it, and a server only writes to an idle connection to end it (the FATAL message of a
shutdown or a terminated backend, then end-of-file). So a readable socket means a dead connection.
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# SQLSTATEs that say the server cannot serve connections now, whatever the statement: class 08
# (connection exception) and these (too many clients; shutting down; crashed; starting up).
_UNAVAILABLE_STATES = frozenset({"53300", "57P01", "57P02", "57P03"})


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database could not be reached (not that a statement was wrong)."""
    if isinstance(exc, PoolTimeoutError):  # every pooled connection is busy for pool_timeout seconds
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:  # SQLAlchemy recognised a lost connection
            return True
        if exc.orig is None:
            return False
        exc = exc.orig
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    # No SQLSTATE: psycopg itself failed to connect or lost the connection.
    return state is None or state.startswith("08") or state in _UNAVAILABLE_STATES


def closed_by_server(driver_connection: Any) -> bool:
    """Whether an idle psycopg connection was closed by the server (or has anything at all to read)."""
    if driver_connection.closed:
        return True
    try:
        fd = driver_connection.pgconn.socket
    except psycopg.OperationalError:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


def _check_on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    if record.driver_connection is not None and closed_by_server(record.driver_connection):
        # The pool discards this connection (and every one older than it) and checks out another.
        raise DisconnectionError("the server closed this pooled connection")


def discard_closed_connections(engine: Engine) -> None:
    """Replace, at checkout, pooled connections that the server has closed (no round trip)."""
    event.listen(engine.pool, "checkout", _check_on_checkout)
