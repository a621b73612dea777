"""Render every error, validation and routing errors included, in the platform's one format."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from platform_core.kernel.db.outages import is_database_unavailable
from platform_core.kernel.errors import AppError, CacheUnavailable, DatabaseUnavailable

logger = logging.getLogger("platform.errors")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: Any = None
) -> JSONResponse:
    """Build a response in the error format."""
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


def render(exc: AppError) -> JSONResponse:
    """The response for an AppError."""
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


def log_unavailable(exc: AppError) -> None:
    """One WARNING line for a dependency that is down (an outage, not a bug: no traceback, no Sentry)."""
    cause = exc.__cause__ or exc.__context__
    reason = f"{type(cause).__name__}: {str(cause).strip().splitlines()[0] if str(cause).strip() else ''}"
    logger.warning("answered 503 %s (%s)", exc.code, reason if cause else exc.message)


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    if exc.status_code == 503:
        log_unavailable(exc)
    elif exc.status_code >= 500:
        logger.error("application error %s: %s", exc.code, exc.message, exc_info=exc)
    return render(exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": list(err.get("loc", ())), "message": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    invalid_json = any(d["type"] == "json_invalid" for d in details)
    message = "The request body is not valid JSON." if invalid_json else "The request is invalid."
    code = "invalid_json" if invalid_json else "validation_error"
    return error_response(422, code, message, jsonable_encoder(details))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "HTTP error."
    if exc.status_code == 404 and message == "Not Found":
        message = "No route matches this path."
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        message = "This method is not allowed on this path."
        headers = {**(headers or {}), "Allow": allowed_methods(request)}
    return error_response(exc.status_code, code, message, None, headers)


def allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path (Starlette's 405 names only one route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route_methods
    return ", ".join(sorted(methods))


def is_nul_in_text(exc: DataError) -> bool:
    """Whether psycopg refused to send a NUL character in text: user input that no validator checks.

    psycopg raises this itself, before anything reaches the server, so it has no SQLSTATE; a DataError
    from the server (a value out of range, a string too long) is a bug in our validation instead.
    """
    orig = exc.orig
    return isinstance(orig, psycopg.Error) and orig.sqlstate is None and "cannot contain NUL" in str(orig)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # The database is down or refused the connection: 503 and one WARNING line. A NUL character in text
    # passed validation but cannot be stored: the client's input, 422. Anything else is a bug: 500.
    if is_database_unavailable(exc):
        unavailable = DatabaseUnavailable()
        unavailable.__cause__ = exc
        log_unavailable(unavailable)
        return render(unavailable)
    if isinstance(exc, DataError) and is_nul_in_text(exc):
        logger.info("data error answered 422: %s", getattr(exc, "orig", exc))
        return error_response(
            422, "invalid_value", "A value in the request cannot be stored (for example a NUL character)."
        )
    return await _unhandled(request, exc)


async def _cache_error(request: Request, exc: Exception) -> JSONResponse:
    unavailable = CacheUnavailable()
    unavailable.__cause__ = exc
    log_unavailable(unavailable)
    return render(unavailable)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "An internal error occurred.")


_HANDLERS: tuple[tuple[type[Exception], Any], ...] = (
    (AppError, _app_error),
    (RequestValidationError, _validation_error),
    (StarletteHTTPException, _http_error),
    (OperationalError, _database_error),
    (InterfaceError, _database_error),
    (DataError, _database_error),
    (PoolTimeoutError, _database_error),
    (RedisConnectionError, _cache_error),
    (RedisTimeoutError, _cache_error),
)


async def response_for(request: Request, exc: Exception) -> JSONResponse:
    """The error response the app's handlers give `exc` (logged as they log it): for callers that
    render the same outcome another way, such as the console's HTML pages."""
    for kind, handler in _HANDLERS:
        if isinstance(exc, kind):
            response: JSONResponse = await handler(request, exc)
            return response
    return await _unhandled(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on an app."""
    # No handler for IntegrityError: a violated constraint that a service did not name is a bug, so it
    # is a 500 that Sentry hears about (services turn the constraints they expect into named 409s).
    for kind, handler in _HANDLERS:
        app.add_exception_handler(kind, handler)
    app.add_exception_handler(Exception, _unhandled)
