"""factory-boy factories. Tenant rows are created with their schema by provisioning (the `tenant_service`
fixture), not here."""

from __future__ import annotations

import functools
import uuid
from datetime import timedelta
from typing import Any

import factory

from platform_core.access.models import ApiKey, Role, User
from platform_core.access.permissions import builtin_role_id
from platform_core.items.models import Item, ItemStatus
from platform_core.kernel.context import TenantContext
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.security.passwords import hash_password
from platform_core.kernel.security.tokens import (
    SigningKeys,
    hash_opaque_token,
    issue_access_token,
    new_opaque_token,
    tenant_audience,
)
from platform_core.kernel.settings import Settings
from platform_core.uploads.models import Upload, UploadStatus


class ItemFactory(factory.Factory):
    """Builds an Item; `create_in` persists it in a tenant."""

    class Meta:
        model = Item

    title = factory.Sequence(lambda n: f"Item {n}")
    description = factory.Faker("sentence")
    status = ItemStatus.OPEN.value
    tags = factory.LazyFunction(list)


async def create_items(db: Any, tenant: TenantContext, count: int = 1, **fields: Any) -> list[Item]:
    """Persist `count` items in a tenant's schema (inside the test transaction)."""
    items = ItemFactory.build_batch(count, **fields)
    async with db.session(tenant.schema_name) as session:
        session.add_all(items)
        await session.commit()
    return items


class UploadFactory(factory.Factory):
    """Builds a stored Upload row (no file behind it): quota fillers and listings."""

    class Meta:
        model = Upload

    id = factory.LazyFunction(uuid.uuid4)
    filename = factory.Sequence(lambda n: f"file-{n}.bin")
    content_type = "application/octet-stream"
    size_bytes = 1
    key = factory.LazyAttribute(lambda o: f"tenants/unknown/uploads/{o.id}/{o.filename}")
    status = UploadStatus.STORED.value
    expires_at = factory.LazyFunction(lambda: utcnow() + timedelta(minutes=15))
    stored_at = factory.LazyFunction(utcnow)


async def create_upload(db: Any, tenant: TenantContext, **fields: Any) -> Upload:
    """Persist an upload row in a tenant (inside the test transaction)."""
    upload = UploadFactory.build(**fields)
    if "key" not in fields:
        upload.key = f"tenants/{tenant.id}/uploads/{upload.id}/{upload.filename}"
    async with db.session(tenant.schema_name) as session:
        session.add(upload)
        await session.commit()
    return upload


PASSWORD = "correct horse battery staple"


@functools.cache
def password_hash() -> str:
    """The argon2id hash of PASSWORD, computed once per test process."""
    return hash_password(PASSWORD)


class UserFactory(factory.Factory):
    """Builds a verified, active User with PASSWORD; pass `role="admin"` etc. to `create_user`."""

    class Meta:
        model = User

    id = factory.LazyFunction(uuid.uuid4)
    email = factory.LazyFunction(lambda: f"user-{uuid.uuid4().hex[:12]}@example.org")
    full_name = factory.Faker("name")
    password_hash = factory.LazyFunction(password_hash)
    is_active = True
    email_verified_at = factory.LazyFunction(utcnow)


async def create_user(db: Any, tenant: TenantContext, *, role: str = "owner", **fields: Any) -> User:
    """Persist a user with a built-in role (by name) or a role id (`role_id=`) in a tenant."""
    fields.setdefault("role_id", builtin_role_id(role))
    user = UserFactory.build(**fields)
    async with db.session(tenant.schema_name) as session:
        session.add(user)
        await session.commit()
    return user


async def create_role(db: Any, tenant: TenantContext, name: str, permissions: list[str]) -> Role:
    """Persist a custom role in a tenant."""
    role = Role(id=uuid.uuid4(), name=name, description="", permissions=permissions, builtin=False)
    async with db.session(tenant.schema_name) as session:
        session.add(role)
        await session.commit()
    return role


def access_token(settings: Settings, tenant: TenantContext, user_id: uuid.UUID, **overrides: Any) -> str:
    """A valid access token for a user of `tenant` (a fresh session id unless `sid` is given)."""
    claims: dict[str, Any] = {"tid": str(tenant.id), "sid": str(uuid.uuid4())}
    claims.update(overrides)
    return issue_access_token(
        SigningKeys.parse(settings.signing_keys_spec),
        subject=str(user_id),
        audience=tenant_audience(tenant.id),
        **claims,
    )


async def create_api_key(db: Any, tenant: TenantContext, creator: User, scopes: list[str]) -> str:
    """Persist an API key of `creator` with `scopes`; return its secret."""
    secret = "pk_" + new_opaque_token()
    async with db.session(tenant.schema_name) as session:
        session.add(
            ApiKey(
                name="test key",
                prefix=secret[:12],
                secret_hash=hash_opaque_token(secret),
                scopes=scopes,
                created_by_id=creator.id,
            )
        )
        await session.commit()
    return secret
