"""factory-boy factories. Tenant rows are created with their schema via TenantService, not here."""

from __future__ import annotations

from typing import Any

import factory

from platform_core.context import TenantContext
from platform_core.items.models import Item, ItemStatus


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
