"""Custom domains of a tenant: attached, verified by an operator, removed. Never commits."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy.orm import Session

from platform_core.kernel.db.base import utcnow
from platform_core.kernel.db.constraints import constraint_errors
from platform_core.kernel.settings import Settings
from tenants import repository
from tenants.exceptions import DomainNotFound, DomainTaken, InvalidDomain
from tenants.lifecycle import lock
from tenants.models import TenantDomain
from tenants.slugs import normalise_domain

DOMAIN_CONSTRAINT = "uq_tenant_domain_domain"


def add_domain(session: Session, *, settings: Settings, slug: str, domain: str) -> TenantDomain:
    """Attach a custom domain to a tenant; it serves nothing until verified."""
    name = normalise_domain(domain)
    base = settings.base_domain
    if name == base or name.endswith("." + base):
        raise InvalidDomain(f"Subdomains of {base} are not custom domains.", details={"domain": name})
    tenant = lock(session, slug=slug)
    record = TenantDomain(tenant_id=tenant.id, domain=name, verification_token=secrets.token_hex(16))
    session.add(record)
    taken = DomainTaken(f"The domain {name!r} is already attached to a tenant.")
    with constraint_errors({DOMAIN_CONSTRAINT: lambda: taken}):
        session.flush()
    return record


def verify_domain(session: Session, *, domain: str) -> TenantDomain:
    """Mark a custom domain verified (an operator has checked its DNS); it starts serving."""
    record = _get(session, domain)
    record.verified_at = record.verified_at or utcnow()
    repository.notify_changed(session, record.tenant_id)
    return record


def remove_domain(session: Session, *, domain: str) -> None:
    """Detach a custom domain; it stops serving once the transaction commits."""
    record = _get(session, domain)
    session.delete(record)
    repository.notify_changed(session, record.tenant_id)


def list_domains(session: Session, *, slug: str) -> Sequence[TenantDomain]:
    """A tenant's custom domains."""
    return repository.list_domains(session, lock(session, slug=slug).id)


def _get(session: Session, domain: str) -> TenantDomain:
    record = repository.get_domain(session, normalise_domain(domain))
    if record is None:
        raise DomainNotFound(f"No tenant has the domain {domain!r}.")
    return record
