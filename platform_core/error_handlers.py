"""Render every error, validation and routing errors included, in the platform's one format."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from platform_core.errors import AppError

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


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    if exc.status_code >= 500:
        logger.error("application error %s: %s", exc.code, exc.message, exc_info=exc)
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


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


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # A unique or foreign key constraint caught what the service's checks could not see: a concurrent
    # request created the same thing (two sign-ups with one email, two roles with one name).
    logger.info("integrity error answered 409: %s", getattr(exc, "orig", exc))
    return error_response(
        409, "conflict", "The request conflicts with a change made at the same time; read again and retry."
    )


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    # A value the database refuses although it passed validation (a NUL character in a text field).
    logger.info("data error answered 422: %s", getattr(exc, "orig", exc))
    return error_response(
        422, "invalid_value", "A value in the request cannot be stored (for example a NUL character)."
    )


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "An internal error occurred.")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on an app."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(Exception, _unhandled)
