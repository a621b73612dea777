"""What a route promises, read from its dependencies: its host, its gate, and every error it can answer.

Each dependency declares what it raises (`platform_core.kernel.errors.raises`) and which hosts it confines a
route to (`platform_core.kernel.tenancy.serves_on`); a route adds the errors of its own body with `raises` on
the endpoint. So a permission gate brings 401/403 (and the billing policy's 402 and the API-key rate
limit's 429), a tenant route brings 400/404/403/410 for its host, an entity lookup its 404, without a
list per route to keep in step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from platform_core.access.dependencies import GATE_ATTRIBUTE, permission_of
from platform_core.access.permissions import Permission
from platform_core.kernel.errors import AppError, DependencyUnavailable, Unprocessable, declared_errors
from platform_core.kernel.tenancy import HostKind, get_public_session, get_tenant_session, host_kind_of
from tenants.exceptions import InvalidHost

# Dependencies that open the request's database session: a value PostgreSQL refuses (a NUL character)
# is 422 `invalid_value`, and an unreachable database 503 `database_unavailable`. A write that loses a
# race to a unique constraint answers the named 409 its service declares (`raises` on the endpoint).
SESSION_DEPENDENCIES: frozenset[Callable[..., Any]] = frozenset({get_tenant_session, get_public_session})
READS = frozenset({"GET", "HEAD", "OPTIONS"})


class InvalidValue(Unprocessable):
    """A value that passed validation but that the database refuses (error_handlers answers it)."""

    code = "invalid_value"


@dataclass(frozen=True)
class ErrorAnswer:
    """One documented error answer: its status and code (None: any code of that status)."""

    status: int
    code: str | None

    @classmethod
    def of(cls, error: type[AppError]) -> ErrorAnswer:
        """The answer an AppError class renders."""
        return cls(error.status_code, None if error is DependencyUnavailable else error.code)


@dataclass(frozen=True)
class RouteContract:
    """What one route (one method) promises."""

    route: APIRoute
    method: str
    host: HostKind | None
    gate: str | None
    permission: Permission | None
    errors: frozenset[ErrorAnswer]
    opens_session: bool


def dependency_calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """Every dependency a route solves, depth first."""
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from dependency_calls(dependency)


def contract_of(route: APIRoute, method: str, policy: Any = None) -> RouteContract:
    """Read a route's promises from its dependencies and its endpoint; `policy` is the access policy."""
    calls = [route.endpoint, *dependency_calls(route.dependant)]
    hosts = {kind for call in calls if (kind := host_kind_of(call)) is not None}
    if len(hosts) > 1:
        raise ValueError(f"{method} {route.path} is confined to several kinds of host: {sorted(hosts)}")
    host = next(iter(hosts), None)
    gate = next((g for call in calls if (g := getattr(call, GATE_ATTRIBUTE, None)) is not None), None)
    permission = next((p for call in calls if (p := permission_of(call)) is not None), None)
    errors: set[type[AppError]] = {error for call in calls for error in declared_errors(call)}
    if permission is not None and policy is not None and hasattr(policy, "refusals"):
        errors.update(policy.refusals(permission, method))
    opens_session = any(call in SESSION_DEPENDENCIES for call in calls)
    if host is not None:
        errors.add(InvalidHost)  # the Host header is parsed before anything else
        errors.add(DependencyUnavailable)  # host resolution reads the registry on a cache miss
    if opens_session:
        errors.add(DependencyUnavailable)
    return RouteContract(
        route=route,
        method=method,
        host=host,
        gate=gate,
        permission=permission,
        errors=frozenset(ErrorAnswer.of(error) for error in errors),
        opens_session=opens_session,
    )
