"""The request's unit of work: one session per request, committed before the response starts.

A dependency opens the session (`open_request_session`); this middleware commits it when the response
starts with a status below 400 and rolls it back otherwise, or when the handler raises. Doing it here
rather than in a `yield` dependency keeps FastAPI's exit-stack machinery off the hottest path
(bench/tenancy_overhead.py), and still commits before a single byte of the response is sent: if the
commit fails, the client gets a 500 in the error format instead of a success that did not happen.
"""

from __future__ import annotations

import json
import logging
from contextlib import AbstractAsyncContextManager

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from platform_core.kernel.db.outages import is_database_unavailable
from platform_core.kernel.errors import DatabaseUnavailable

logger = logging.getLogger("platform.db")
SCOPE_KEY = "platform.unit_of_work"
_FAILED_COMMIT = json.dumps(
    {"error": {"code": "internal_error", "message": "An internal error occurred.", "details": None}}
).encode()
_UNAVAILABLE = DatabaseUnavailable()
_UNAVAILABLE_BODY = json.dumps(_UNAVAILABLE.to_dict()).encode()
_UNAVAILABLE_HEADERS = [(b"content-type", b"application/json")] + [
    (name.lower().encode("latin-1"), value.encode("latin-1"))
    for name, value in (_UNAVAILABLE.headers or {}).items()
]


async def open_request_session(
    scope: Scope, opener: AbstractAsyncContextManager[AsyncSession]
) -> AsyncSession:
    """Open the request's session (once) and leave its end to UnitOfWorkMiddleware."""
    existing: tuple[AbstractAsyncContextManager[AsyncSession], AsyncSession] | None = scope.get(SCOPE_KEY)
    if existing is not None:
        return existing[1]
    session = await opener.__aenter__()
    scope[SCOPE_KEY] = (opener, session)
    return session


async def _finish(scope: Scope, *, commit: bool) -> None:
    """Commit or roll back the request's session and close it; raises if the commit fails."""
    entry = scope.pop(SCOPE_KEY, None)
    if entry is None:
        return
    opener, session = entry
    try:
        if commit:
            await session.commit()
        else:
            await session.rollback()
    except BaseException:
        await session.rollback()
        await opener.__aexit__(None, None, None)
        raise
    await opener.__aexit__(None, None, None)


class UnitOfWorkMiddleware:
    """Commit the request's session before the response starts (2xx/3xx), roll back otherwise."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request; settle its session at the start of the response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replaced = False

        async def settle_then_send(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the app's own response was replaced by an error: drop its body
            if message["type"] == "http.response.start" and SCOPE_KEY in scope:
                try:
                    await _finish(scope, commit=message["status"] < 400)
                except Exception as exc:
                    replaced = True
                    if is_database_unavailable(exc):  # an outage, not a bug: one line, 503
                        cause = getattr(exc, "orig", exc)
                        logger.warning("commit failed, database unavailable (%s); answering 503", cause)
                        status, headers, body = 503, _UNAVAILABLE_HEADERS, _UNAVAILABLE_BODY
                    else:
                        logger.exception("commit failed; answering 500")
                        status, headers, body = 500, [(b"content-type", b"application/json")], _FAILED_COMMIT
                    await send({"type": "http.response.start", "status": status, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                    return
            await send(message)

        try:
            await self.app(scope, receive, settle_then_send)
        finally:
            if SCOPE_KEY in scope:  # the app raised before responding: nothing of it commits
                await _finish(scope, commit=False)
