"""What can go wrong managing API keys."""

from __future__ import annotations

from platform_core.kernel.errors import NotFound, Unprocessable


class ApiKeyNotFound(NotFound):
    """No such API key in this tenant."""

    code = "api_key_not_found"
    message = "No API key with this id."


class UnknownPermission(Unprocessable):
    """A scope names no known permission."""

    code = "unknown_permission"
    message = "A scope names no known permission."


class InvalidExpiry(Unprocessable):
    """The expiry is in the past or too far ahead."""

    code = "invalid_expires_at"
    message = "The expiry must be in the future and at most two years ahead."
