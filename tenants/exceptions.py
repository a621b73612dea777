"""Tenant registry errors."""

from __future__ import annotations

from platform_core.kernel.errors import BadRequest, Conflict, NotFound, Unprocessable


class InvalidSlug(Unprocessable):
    """The slug is not a valid, unreserved DNS label."""

    code = "invalid_slug"


class SlugTaken(Conflict):
    """Another tenant has this slug."""

    code = "slug_taken"


class TenantNotFound(NotFound):
    """No such tenant."""

    code = "tenant_not_found"
    message = "No such tenant."


class InvalidTenantState(Conflict):
    """The tenant's lifecycle state does not allow this operation."""

    code = "invalid_tenant_state"


class InvalidHost(BadRequest):
    """The Host header is missing or malformed."""

    code = "invalid_host"
    message = "The Host header is missing or malformed."


class InvalidDomain(Unprocessable):
    """The custom domain is not a valid host name."""

    code = "invalid_domain"


class DomainTaken(Conflict):
    """Another tenant has this custom domain."""

    code = "domain_taken"


class DomainNotFound(NotFound):
    """No tenant has this custom domain."""

    code = "domain_not_found"
