"""The plan's API rate limit: API-key requests per tenant, in Redis, with Retry-After."""

from __future__ import annotations

import pytest

from billing import state
from billing.catalog import PLANS_FILE, load_catalog
from tests.conftest import signed_in
from tests.factories import create_api_key


@pytest.fixture
def strict_plans(tmp_path, monkeypatch):
    """The shipped catalogue with the pro plan's API rate lowered to 3 requests a minute."""
    text = PLANS_FILE.read_text().replace('api_rate_limit = "600/minute"', 'api_rate_limit = "3/minute"')
    path = tmp_path / "plans.toml"
    path.write_text(text)
    catalog = load_catalog(path)
    assert catalog.plan("pro").entitlements.api_rate_limit == "3/minute"
    monkeypatch.setattr(state, "get_catalog", lambda: catalog)  # where plan_of reads it


async def test_api_keys_get_the_plans_rate_then_429(
    strict_plans, app, db, tenant_a, owner_a, tenant_b, owner_b
):
    secret = await create_api_key(db, tenant_a, owner_a, ["items:read"])
    async with signed_in(app, tenant_a, secret) as by_key:
        codes = [(await by_key.get("/api/v1/items")).status_code for _ in range(4)]
        refused = await by_key.get("/api/v1/items")
    assert codes == [200, 200, 200, 429]
    assert refused.json()["error"]["code"] == "api_rate_limited"
    assert refused.json()["error"]["details"]["limit"] == "3/minute"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    other = await create_api_key(db, tenant_b, owner_b, ["items:read"])
    async with signed_in(app, tenant_b, other) as elsewhere:
        assert (await elsewhere.get("/api/v1/items")).status_code == 200  # another tenant, another count


async def test_signed_in_users_are_not_counted(strict_plans, client_a):
    assert [(await client_a.get("/api/v1/items")).status_code for _ in range(5)] == [200] * 5
