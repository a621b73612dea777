"""Fixtures for these API tests: a signed-in viewer of tenant alpha (who holds none of the gates)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from platform_core.kernel.context import TenantContext
from platform_core.kernel.settings import Settings
from tests.conftest import signed_in
from tests.factories import access_token, create_user


@pytest.fixture
async def viewer_a(
    app: Any, settings: Settings, db: Any, tenant_a: TenantContext
) -> AsyncIterator[httpx.AsyncClient]:
    """A client on tenant alpha's host, signed in as a viewer."""
    user = await create_user(db, tenant_a, role="viewer")
    async with signed_in(app, tenant_a, access_token(settings, tenant_a, user.id)) as client:
        yield client
