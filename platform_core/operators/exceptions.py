"""What can go wrong with operator accounts, operator sign-in and the operator API."""

from __future__ import annotations

from platform_core.kernel.errors import Conflict, NotFound, Unauthorized, Unprocessable


class OperatorInvalidCredentials(Unauthorized):
    """Wrong email or password, or an inactive operator (the same answer in every case)."""

    code = "invalid_credentials"
    message = "The email or password is incorrect."


class InvalidOperatorEmail(Unprocessable):
    """The operator's email address is not valid."""

    code = "invalid_email"


class OperatorEmailTaken(Conflict):
    """Another operator has this email."""

    code = "operator_email_taken"
    message = "An operator with this email already exists."


class OperatorNotFound(NotFound):
    """No operator has this email."""

    code = "operator_not_found"
    message = "No such operator."


class NotOperatorHost(NotFound):
    """The operator API is served on the reserved operator host only."""

    code = "not_found"
    message = "No route matches this path."


class OperatorNotAuthenticated(Unauthorized):
    """No operator token was sent."""

    code = "not_authenticated"
    message = "Send an operator access token as `Authorization: Bearer <token>`."


class ExportNotFound(NotFound):
    """No export of this tenant has this id."""

    code = "export_not_found"
    message = "No such export."
