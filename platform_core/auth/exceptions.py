"""What can go wrong signing in, and with emailed links."""

from __future__ import annotations

from platform_core.kernel.errors import BadRequest, Forbidden, Unauthorized


class InvalidCredentials(Unauthorized):
    """Wrong email or password (the same answer either way)."""

    code = "invalid_credentials"
    message = "The email or password is incorrect."


class EmailNotVerified(Forbidden):
    """The account's email address is not verified yet."""

    code = "email_not_verified"
    message = "Verify your email address first: follow the link we sent you."


class InvalidRefreshToken(Unauthorized):
    """The refresh token is unknown, expired, revoked or already used."""

    code = "invalid_refresh_token"
    message = "The refresh token is invalid or expired. Sign in again."


class InvalidLink(BadRequest):
    """An emailed link's token is unknown, already used or expired."""

    code = "invalid_link"
    message = "This link is invalid or has already been used."


class ExpiredLink(BadRequest):
    """An emailed link has expired."""

    code = "expired_link"
    message = "This link has expired. Ask for a new one."


class WrongPassword(Forbidden):
    """The current password given to change it is wrong."""

    code = "wrong_password"
    message = "The current password is incorrect."


class SignupClosed(Forbidden):
    """The tenant does not allow self-signup."""

    code = "signup_closed"
    message = "This workspace does not accept sign-ups. Ask an admin for an invitation."
