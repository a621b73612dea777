"""One error type for expected failures, rendered as {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
RAISES_ATTRIBUTE = "__platform_raises__"


class AppError(Exception):
    """An expected failure with an HTTP status; domains subclass it with a specific code."""

    status_code: int = 400
    code: str = "bad_request"
    message: str = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.status_code = status_code or self.status_code
        self.details = details
        self.headers = headers
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        """Render the error body."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(AppError):
    """The request is malformed."""

    status_code = 400
    code = "bad_request"


class Unauthorized(AppError):
    """No valid credentials."""

    status_code = 401
    code = "unauthorized"
    message = "Authentication is required."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class PaymentRequired(AppError):
    """The plan does not allow this."""

    status_code = 402
    code = "payment_required"
    message = "Your plan does not allow this."


class Forbidden(AppError):
    """Authenticated but not allowed."""

    status_code = 403
    code = "forbidden"
    message = "You are not allowed to do this."


class NotFound(AppError):
    """The resource does not exist, or the caller may not know that it does."""

    status_code = 404
    code = "not_found"
    message = "Not found."


class Conflict(AppError):
    """The request conflicts with the current state."""

    status_code = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class Gone(AppError):
    """The resource existed and is going away."""

    status_code = 410
    code = "gone"
    message = "This resource is gone."


class Unprocessable(AppError):
    """Well-formed but invalid input."""

    status_code = 422
    code = "validation_error"
    message = "The request is invalid."


class RateLimited(AppError):
    """Too many requests."""

    status_code = 429
    code = "rate_limited"
    message = "Too many requests."


class ServiceUnavailable(AppError):
    """A dependency is down."""

    status_code = 503
    code = "service_unavailable"
    message = "The service is unavailable."


class DependencyUnavailable(ServiceUnavailable):
    """A dependency does not answer for now; `Retry-After` tells the client when to try again."""

    retry_after_seconds = 5

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(self.retry_after_seconds)})
        super().__init__(message, **kwargs)


class DatabaseUnavailable(DependencyUnavailable):
    """PostgreSQL cannot be reached, refuses connections, or dropped the connection."""

    code = "database_unavailable"
    message = "The database is not available right now; try again in a few seconds."


class CacheUnavailable(DependencyUnavailable):
    """Redis (counters for sign-in throttling and API rate limits) cannot be reached."""

    code = "cache_unavailable"
    message = "A required service is not available right now; try again in a few seconds."


def raises(*errors: type[AppError]) -> Callable[[T], T]:
    """Declare the errors a route or a dependency answers with; the OpenAPI documents list them."""

    def mark(target: T) -> T:
        setattr(target, RAISES_ATTRIBUTE, (*getattr(target, RAISES_ATTRIBUTE, ()), *errors))
        return target

    return mark


def declared_errors(target: object) -> tuple[type[AppError], ...]:
    """The errors declared on a route or dependency with `raises`."""
    return getattr(target, RAISES_ATTRIBUTE, ())
