"""What sign-in routes depend on: the request's auth scope, and the credentials of a sign-in body.

The credentials are read by a dependency, not by FastAPI's body parameters, because one route takes
two encodings: the OAuth2 password form (`username`, `password`, optional `grant_type=password`) and
JSON `{"email", "password"}`. The tenant sign-in and the operator sign-in both read them here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from platform_core.access.principal import client_ip
from platform_core.auth.schemas import SignInRequest
from platform_core.auth.service import AuthScope
from platform_core.auth.sessions import Client
from platform_core.kernel.errors import Unprocessable, declared_errors, raises
from platform_core.kernel.tenancy import HostKind, get_tenant, serves_on

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

# The OpenAPI text of a sign-in body (the dependency reads it, so FastAPI cannot derive it).
SIGN_IN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": SignInRequest.model_json_schema()},
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["password"]},
                        "username": {"type": "string", "description": "The account's email."},
                        "password": {"type": "string"},
                    },
                }
            },
        },
    }
}


@serves_on(HostKind.TENANT)
@raises(*declared_errors(get_tenant))
async def get_auth_scope(request: Request) -> AuthScope:
    """The tenant, keys, throttle and client of a sign-in request."""
    tenant = await get_tenant(request)
    state = request.app.state
    return AuthScope(
        settings=state.settings,
        keys=state.signing_keys,
        tenant=tenant,
        client=Client(ip=client_ip(request), user_agent=request.headers.get("user-agent")),
        throttle=state.throttle,
    )


AuthScopeDep = Annotated[AuthScope, Depends(get_auth_scope)]


def _body_errors(exc: ValidationError) -> RequestValidationError:
    return RequestValidationError(
        [{**err, "loc": ("body", *err.get("loc", ()))} for err in exc.errors(include_url=False)]
    )


@raises(Unprocessable)
async def read_sign_in(request: Request) -> SignInRequest:
    """The credentials of an OAuth2 password form or of a JSON body; 422 when malformed."""
    if not request.headers.get("content-type", "").startswith(_FORM_TYPES):
        try:
            return SignInRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise _body_errors(exc) from exc
    form = await request.form()
    grant = form.get("grant_type")
    if grant not in (None, "", "password"):
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "grant_type"),
                    "msg": "Only the password grant is supported.",
                    "type": "value_error",
                }
            ]
        )
    data: dict[str, Any] = {"email": form.get("username"), "password": form.get("password")}
    try:
        return SignInRequest.model_validate(data)
    except ValidationError as exc:
        raise _body_errors(exc) from exc


SignInCredentials = Annotated[SignInRequest, Depends(read_sign_in)]
