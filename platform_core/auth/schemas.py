"""Request and response bodies of the sign-in endpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, EmailStr, Field
from pydantic.json_schema import JsonDict

from platform_core.kernel.security.passwords import MAX_LENGTH, MIN_LENGTH

# Sign-in accepts any password up to a cap (the rules apply when one is set, not when one is tried).
_ANY_PASSWORD = Field(min_length=1, max_length=1024)
# A new password's rule is the service's (422 `invalid_password`, with the limits in `details`); the
# schema states it too, so clients and the documents know it without trying.
NEW_PASSWORD_RULE: JsonDict = {"minLength": MIN_LENGTH, "maxLength": MAX_LENGTH}
_NEW_PASSWORD = Field(
    description=f"{MIN_LENGTH} to {MAX_LENGTH} characters.",
    max_length=1024,
    json_schema_extra=NEW_PASSWORD_RULE,
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class SignInRequest(_Body):
    """Email and password (the JSON form of the OAuth2 password grant)."""

    email: EmailStr
    password: str = _ANY_PASSWORD


class TokenResponse(BaseModel):
    """An access token and the refresh token that renews it."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int
    refresh_token: str


class RefreshRequest(_Body):
    """A refresh token to rotate."""

    refresh_token: str = Field(min_length=1, max_length=200)


class SignUpRequest(_Body):
    """A new account on a tenant that allows self-signup."""

    email: EmailStr
    password: str = _NEW_PASSWORD
    full_name: str = Field(default="", max_length=200)


class EmailRequest(_Body):
    """An address to send a link to."""

    email: EmailStr


class TokenRequest(_Body):
    """The token of an emailed link."""

    token: str = Field(min_length=1, max_length=200)


class ResetPasswordRequest(_Body):
    """The token of a reset (or first-password) link, and the new password."""

    token: str = Field(min_length=1, max_length=200)
    password: str = _NEW_PASSWORD


class ChangePasswordRequest(_Body):
    """The current password and the new one."""

    current_password: str = _ANY_PASSWORD
    new_password: str = _NEW_PASSWORD


class Accepted(BaseModel):
    """An asynchronous request was taken (for example: an email will be sent if the account exists)."""

    detail: str
