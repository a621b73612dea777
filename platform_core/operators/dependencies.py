"""What operator routes depend on: the operator host, the signed-in operator, a tenant named by slug.

Bodies are read by dependencies rather than by FastAPI's body parameters: FastAPI parses a JSON body
before it solves any dependency, so a malformed body would answer 422 on every host, where the operator
API must not exist (404) anywhere but on its own host.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.access.dependencies import mark_gate
from platform_core.access.principal import bearer_token, client_ip
from platform_core.kernel.db.engines import Database
from platform_core.kernel.db.unit_of_work import open_request_session
from platform_core.kernel.errors import Unprocessable, raises
from platform_core.kernel.security.tokens import InvalidToken
from platform_core.kernel.tenancy import HostKind, require_platform_host, serves_on
from platform_core.operators import service as operator_service
from platform_core.operators.exceptions import NotOperatorHost, OperatorNotAuthenticated
from platform_core.operators.models import Operator
from platform_core.operators.service import OperatorScope
from tenants.exceptions import TenantNotFound
from tenants.models import Tenant

M = TypeVar("M", bound=BaseModel)
_SLUG_LIKE = re.compile(r"[a-z0-9-]{1,63}")


@serves_on(HostKind.OPERATOR)
@raises(NotOperatorHost)
async def require_operator_host(request: Request) -> None:
    """Serve a route only on the reserved operator host; anywhere else it does not exist (404)."""
    if await require_platform_host(request) != request.app.state.settings.operator_host:
        raise NotOperatorHost


OperatorHost = Depends(require_operator_host)


@raises(OperatorNotAuthenticated, InvalidToken)
async def current_operator(request: Request, _host: Annotated[None, OperatorHost]) -> Operator:
    """The active operator named by the request's operator access token (401 on anything wrong)."""
    token = bearer_token(request)
    if token is None:
        raise OperatorNotAuthenticated
    db: Database = request.app.state.db
    # A short session of its own: the route then binds the request's session to the schema it needs.
    async with db.session(None) as session:
        return await operator_service.authenticate(session, request.app.state.signing_keys, token)


mark_gate(current_operator, "operator")
CurrentOperator = Annotated[Operator, Depends(current_operator)]


@raises(TenantNotFound)
async def tenant_slug(slug: str) -> str:
    """The `{slug}` path parameter; one that no tenant could have is as unknown as any other (404)."""
    if not _SLUG_LIKE.fullmatch(slug):
        raise TenantNotFound(details={"slug": slug[:100]})
    return slug


TenantSlug = Annotated[str, Depends(tenant_slug)]


@raises(TenantNotFound)
async def get_operator_tenant(request: Request, operator: CurrentOperator, slug: TenantSlug) -> Tenant:
    """The live tenant named by `{slug}` (404 otherwise); looked up only for a signed-in operator."""
    db: Database = request.app.state.db
    async with db.session(None) as session:
        return await operator_service.get_tenant(session, slug)


OperatorTenant = Annotated[Tenant, Depends(get_operator_tenant)]


async def get_operator_scope(request: Request) -> OperatorScope:
    """The settings, keys, throttle and client address of an operator request."""
    state = request.app.state
    return OperatorScope(
        settings=state.settings, keys=state.signing_keys, throttle=state.throttle, ip=client_ip(request)
    )


OperatorScopeDep = Annotated[OperatorScope, Depends(get_operator_scope)]


async def tenant_session(request: Request, tenant: Tenant) -> AsyncSession:
    """Open the request's session bound to `tenant`'s schema (committed with the request)."""
    db: Database = request.app.state.db
    return await open_request_session(request.scope, db.session(tenant.schema_name))


def _invalid(exc: ValidationError) -> RequestValidationError:
    return RequestValidationError(
        [{**err, "loc": ("body", *err.get("loc", ()))} for err in exc.errors(include_url=False)]
    )


def json_body(model: type[M]) -> Callable[[Request], Awaitable[M]]:
    """A dependency that reads the request's JSON body as `model` (422 in the error format otherwise)."""

    async def dependency(request: Request) -> M:
        try:
            return model.model_validate_json(await request.body())
        except ValidationError as exc:
            raise _invalid(exc) from exc

    dependency.__name__ = f"read_{model.__name__}"
    return raises(Unprocessable)(dependency)
