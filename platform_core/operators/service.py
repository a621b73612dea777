"""Operator accounts, operator sign-in, and what operators do to tenants. Services never commit.

Operators live in `public` and sign in on the reserved operator host only. Their access tokens carry
the audience OPERATOR_AUDIENCE, which no tenant route accepts (tenant routes require `tenant:<id>`),
and tenant tokens are refused here for the same reason. There are no operator refresh tokens.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from billing import service as billing_service
from billing.schemas import WaitingEventPage
from platform_core.access.actor import Actor, ActorType
from platform_core.auth.throttle import Throttle
from platform_core.kernel.context import TenantStatus
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.db.constraints import constraint_errors
from platform_core.kernel.paging import PageParams
from platform_core.kernel.security.passwords import (
    hash_password,
    hash_password_async,
    needs_rehash,
    verify_password_async,
)
from platform_core.kernel.security.tokens import (
    InvalidToken,
    SigningKeys,
    decode_access_token,
    issue_access_token,
)
from platform_core.kernel.settings import Settings
from platform_core.members.owner import OwnerAdded, prepare_owner_async
from platform_core.operators import repository
from platform_core.operators import tenants as tenant_actions
from platform_core.operators.exceptions import (
    ExportNotFound,
    InvalidOperatorEmail,
    OperatorEmailTaken,
    OperatorInvalidCredentials,
    OperatorNotFound,
)
from platform_core.operators.models import Operator, TenantExport
from platform_core.operators.schemas import (
    BehindHeadRead,
    ExportList,
    ExportRead,
    FleetStatusRead,
    OperatorActionPage,
    OperatorActionRead,
    TenantMemberPage,
    TenantMemberRead,
    TenantPage,
    TenantRead,
)
from platform_core.uploads.storage import get_store
from platform_core.users import repository as user_repository
from tenants.exceptions import TenantNotFound
from tenants.fleet import behind_head
from tenants.models import Tenant

logger = logging.getLogger("platform.operators")

OPERATOR_AUDIENCE = "platform:operator"
THROTTLE_SCOPE = "operator"  # sign-in counters of operators, apart from every tenant's


@dataclass(frozen=True, slots=True)
class OperatorScope:
    """What operator sign-in and tenant lifecycle changes need to know about the request."""

    settings: Settings
    keys: SigningKeys
    throttle: Throttle
    ip: str | None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """An operator access token and its lifetime in seconds."""

    access_token: str
    expires_in: int


def normalize_email(email: str) -> str:
    """Validate an email address (syntax only) and return it lower-cased."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InvalidOperatorEmail(f"The email is not valid: {exc}", details={"email": email}) from exc


def actor(operator: Operator, ip: str | None) -> Actor:
    """The operator as a tenant's audit log records it."""
    return Actor(ActorType.OPERATOR, operator.id, operator.email, ip)


# Sign-in and tokens (API)


async def sign_in(session: AsyncSession, scope: OperatorScope, *, email: str, password: str) -> IssuedToken:
    """Check an operator's password and issue an access token; the same time and answer for unknown emails."""
    operator = await check_credentials(session, scope, email=email, password=password)
    ttl = scope.settings.operator_token_ttl_seconds
    token = issue_access_token(
        scope.keys, subject=str(operator.id), audience=OPERATOR_AUDIENCE, ttl_seconds=ttl
    )
    return IssuedToken(access_token=token, expires_in=ttl)


async def check_credentials(
    session: AsyncSession, scope: OperatorScope, *, email: str, password: str
) -> Operator:
    """The active operator with this email and password (throttled, constant time: the API's and the
    console's sign-in); OperatorInvalidCredentials or TooManyAttempts otherwise."""
    email = email.strip().lower()
    await scope.throttle.sign_in_attempt(scope=THROTTLE_SCOPE, ip=scope.ip, account=email)
    operator = await repository.get_by_email(session, email)
    valid = await verify_password_async(operator.password_hash if operator else None, password)
    if operator is None or not valid or not operator.is_active:
        logger.warning("operator sign-in failed for %s from %s", email, scope.ip)
        raise OperatorInvalidCredentials
    await scope.throttle.sign_in_succeeded(scope=THROTTLE_SCOPE, account=email)
    if needs_rehash(operator.password_hash):
        operator.password_hash = await hash_password_async(password)
    operator.last_login_at = utcnow()
    logger.info("operator %s signed in from %s", operator.email, scope.ip)
    return operator


async def get_active_operator(session: AsyncSession, operator_id: uuid.UUID) -> Operator | None:
    """The operator with this id if it is active."""
    return await repository.get_active(session, operator_id)


async def end_console_sessions(session: AsyncSession, operator_id: uuid.UUID) -> None:
    """Sign an operator out of the console in every browser (their sessions' generation is older)."""
    await repository.bump_session_generation(session, operator_id)


async def authenticate(session: AsyncSession, keys: SigningKeys, token: str) -> Operator:
    """The active operator an operator access token names; InvalidToken otherwise."""
    claims = decode_access_token(keys, token, audience=OPERATOR_AUDIENCE)
    try:
        operator_id = uuid.UUID(claims.subject)
    except ValueError as exc:
        raise InvalidToken from exc
    operator = await repository.get_active(session, operator_id)
    if operator is None:
        raise InvalidToken
    return operator


# Operator accounts (CLI)


def create_operator(session: Session, *, email: str, password: str, full_name: str = "") -> Operator:
    """Create an operator account; InvalidPassword, InvalidOperatorEmail or OperatorEmailTaken otherwise."""
    address = normalize_email(email)
    password_hash = hash_password(password)
    if repository.find_by_email(session, address) is not None:
        raise OperatorEmailTaken(details={"email": address})
    operator = Operator(email=address, full_name=full_name.strip(), password_hash=password_hash)
    session.add(operator)
    with constraint_errors({"uq_operator_email": lambda: OperatorEmailTaken(details={"email": address})}):
        session.flush()  # created concurrently
    return operator


def list_operators(session: Session) -> Sequence[Operator]:
    """Every operator account, by email."""
    return repository.list_operators(session)


def set_active(session: Session, *, email: str, active: bool) -> Operator:
    """Activate or deactivate an operator; a deactivated operator's tokens stop working at once."""
    operator = repository.find_by_email(session, normalize_email(email), lock=True)
    if operator is None:
        raise OperatorNotFound(details={"email": email})
    operator.is_active = active
    return operator


# Tenants (API)


async def list_tenants(
    session: AsyncSession, *, status: TenantStatus | None, paging: PageParams, search: str | None = None
) -> TenantPage:
    """One page of tenants by slug, optionally of one status and matching `search` (slug, name, owner)."""
    tenants, total = await repository.list_tenants_page(
        session, status=status, paging=paging, search=(search or "").strip() or None
    )
    return TenantPage.of([TenantRead.model_validate(t) for t in tenants], total, paging)


async def get_tenant(session: AsyncSession, slug: str) -> Tenant:
    """The live tenant with this slug; TenantNotFound otherwise."""
    tenant = await repository.get_live_tenant(session, slug)
    if tenant is None:
        raise TenantNotFound(f"No tenant with slug {slug!r}.")
    return tenant


async def list_members(session: AsyncSession, paging: PageParams) -> TenantMemberPage:
    """One page of the users of the tenant `session` is bound to, by email."""
    users, total = await user_repository.list_page(session, paging=paging)
    items = [
        TenantMemberRead(
            id=user.id,
            email=user.email,
            full_name=user.full_name,
            role=user.role.name,
            is_active=user.is_active,
            email_verified=user.email_verified_at is not None,
            created_at=user.created_at,
            last_login_at=user.last_login_at,
        )
        for user in users
    ]
    return TenantMemberPage.of(items, total, paging)


async def suspend_tenant(session: AsyncSession, by: Actor, *, slug: str, reason: str) -> Tenant:
    """Suspend a tenant in the request's transaction; its audit log records it in the same commit."""
    return await session.run_sync(tenant_actions.suspend_tenant, slug=slug, reason=reason, by=by)


async def resume_tenant(session: AsyncSession, by: Actor, *, slug: str) -> Tenant:
    """Make a tenant active again in the request's transaction (recorded in its audit log)."""
    return await session.run_sync(tenant_actions.resume_tenant, slug=slug, by=by)


async def delete_tenant(
    session: AsyncSession, scope: OperatorScope, by: Actor, *, slug: str, grace_days: int | None = None
) -> Tenant:
    """Mark a tenant for deletion in the request's transaction (recorded in its audit log)."""
    return await session.run_sync(
        tenant_actions.delete_tenant, settings=scope.settings, slug=slug, grace_days=grace_days, by=by
    )


async def restore_tenant(session: AsyncSession, by: Actor, *, slug: str) -> Tenant:
    """Bring back a tenant marked for deletion, in the request's transaction (recorded in its audit log)."""
    return await session.run_sync(tenant_actions.restore_tenant, slug=slug, by=by)


async def fleet_status(session: AsyncSession, settings: Settings) -> FleetStatusRead:
    """The tenant head and the tenants whose schema is not at it, with their last migration error."""
    head, total, behind = await session.run_sync(lambda sync: behind_head(sync.connection(), settings))
    return FleetStatusRead(
        head=head, tenants=total, behind=[BehindHeadRead.model_validate(row) for row in behind]
    )


async def list_stripe_events(
    session: AsyncSession, *, status: str | None, paging: PageParams
) -> WaitingEventPage:
    """One page of Stripe events waiting (parked, failed, or only one of them), oldest first."""
    statuses = (status,) if status else billing_service.WAITING_STATUSES
    return await billing_service.list_waiting_events(session, statuses=statuses, paging=paging)


async def tenant_slugs(session: AsyncSession, tenant_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The slugs of these tenants (those not purged), to name them on a page."""
    return await repository.tenant_slugs(session, tenant_ids)


async def replay_stripe_events(
    session: AsyncSession, by: Actor, *, include_failed: bool, event_ids: list[str] | None
) -> list[str]:
    """Queue waiting Stripe events again in the request's transaction (recorded in the operator log)."""
    return await session.run_sync(
        lambda sync: tenant_actions.replay_stripe_events(
            sync, include_failed=include_failed, event_ids=event_ids, by=by
        )
    )


async def list_actions(
    session: AsyncSession, *, paging: PageParams, target_id: str | None = None
) -> OperatorActionPage:
    """One page of the platform's log of operator actions, newest first."""
    rows, total = await repository.list_actions_page(session, paging=paging, target_id=target_id)
    return OperatorActionPage.of([OperatorActionRead.model_validate(r) for r in rows], total, paging)


async def request_export(session: AsyncSession, by: Actor, *, slug: str, with_files: bool) -> ExportRead:
    """Ask a worker for an export of the tenant, in the request's transaction (recorded in its audit log).
    StorageUnavailable when no object storage is configured."""
    get_store()  # refuse now, not in the worker, when there is nowhere to write it
    export = await session.run_sync(
        lambda sync: tenant_actions.request_export(sync, slug=slug, with_files=with_files, by=by)
    )
    return ExportRead.model_validate(export)


def _export_read(export: TenantExport, tenant: Tenant) -> ExportRead:
    read = ExportRead.model_validate(export)
    if export.status == "succeeded" and export.object_key:
        filename = f"{tenant.slug}-{export.requested_at:%Y%m%d-%H%M%S}.tar.gz"
        read.download_url = get_store().presign_get(export.object_key, filename=filename)
    return read


async def list_exports(session: AsyncSession, tenant: Tenant) -> ExportList:
    """A tenant's latest exports, newest first (without links: `get_export` makes one)."""
    exports = await repository.list_exports(session, tenant.id)
    return ExportList(items=[ExportRead.model_validate(e) for e in exports])


async def get_export(session: AsyncSession, tenant: Tenant, export_id: uuid.UUID) -> ExportRead:
    """One export of the tenant, with a short-lived download link once it succeeded; ExportNotFound."""
    export = await repository.get_export(session, tenant.id, export_id)
    if export is None:
        raise ExportNotFound(details={"export_id": str(export_id)})
    return _export_read(export, tenant)


async def add_owner(
    session: AsyncSession, scope: OperatorScope, by: Actor, *, slug: str, email: str, password: str | None
) -> OwnerAdded:
    """Make someone an owner of a tenant in the request's transaction (recorded in its audit log)."""
    owner = await prepare_owner_async(email, password)  # hashed off the event loop, before any statement
    return await session.run_sync(
        tenant_actions.add_owner, settings=scope.settings, slug=slug, owner=owner, by=by
    )
