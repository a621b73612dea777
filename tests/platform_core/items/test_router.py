"""Items API: CRUD, listing, validation and cross-tenant isolation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import create_items


async def test_create_and_get(client_a):
    created = await client_a.post(
        "/api/v1/items", json={"title": "  First  ", "description": "d", "tags": ["Red", "red", "blue"]}
    )
    assert created.status_code == 201
    body = created.json()
    assert body["title"] == "First"
    assert body["tags"] == ["red", "blue"]
    assert body["status"] == "open"
    fetched = await client_a.get(f"/api/v1/items/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_update_changes_only_sent_fields(client_a, db, tenant_a):
    [item] = await create_items(db, tenant_a, title="Old", description="keep", tags=["x"])
    response = await client_a.patch(f"/api/v1/items/{item.id}", json={"status": "done", "title": "New"})
    assert response.status_code == 200
    body = response.json()
    assert (body["title"], body["status"], body["description"], body["tags"]) == (
        "New",
        "done",
        "keep",
        ["x"],
    )
    assert body["updated_at"] >= body["created_at"]


async def test_delete_is_soft_and_hides_the_item(client_a, db, tenant_a):
    [item] = await create_items(db, tenant_a)
    assert (await client_a.delete(f"/api/v1/items/{item.id}")).status_code == 204
    assert (await client_a.get(f"/api/v1/items/{item.id}")).status_code == 404
    assert (await client_a.delete(f"/api/v1/items/{item.id}")).status_code == 404
    listed = (await client_a.get("/api/v1/items")).json()
    assert all(i["id"] != str(item.id) for i in listed["items"])
    async with db.session(tenant_a.schema_name) as session:
        from platform_core.items.models import Item

        still_there = await session.get(Item, item.id)
    assert still_there is not None
    assert still_there.deleted_at is not None


async def test_list_pages_with_total(client_a, db, tenant_a):
    await create_items(db, tenant_a, 25)
    first = (await client_a.get("/api/v1/items", params={"page_size": 10})).json()
    third = (await client_a.get("/api/v1/items", params={"page_size": 10, "page": 3})).json()
    beyond = (await client_a.get("/api/v1/items", params={"page_size": 10, "page": 9})).json()
    assert (first["total"], len(first["items"]), first["page"], first["page_size"]) == (25, 10, 1, 10)
    assert (third["total"], len(third["items"])) == (25, 5)
    assert (beyond["total"], beyond["items"]) == (25, [])
    seen = {i["id"] for i in first["items"]} | {i["id"] for i in third["items"]}
    assert len(seen) == 15


async def test_filter_by_status_tag_and_text(client_a, db, tenant_a):
    await create_items(db, tenant_a, title="Alpha report", tags=["finance"], status="done")
    await create_items(db, tenant_a, title="Beta plan", description="quarterly REPORT", tags=["ops"])
    await create_items(db, tenant_a, title="100% done_ish", tags=["ops", "finance"])

    async def titles(**params):
        response = await client_a.get("/api/v1/items", params=params)
        assert response.status_code == 200
        return sorted(i["title"] for i in response.json()["items"])

    assert await titles(status="done") == ["Alpha report"]
    assert await titles(tag="ops") == ["100% done_ish", "Beta plan"]
    assert await titles(tag="FINANCE", status="open") == ["100% done_ish"]
    assert await titles(q="report") == ["Alpha report", "Beta plan"]
    assert await titles(q="%") == ["100% done_ish"]  # LIKE wildcards are literal
    assert await titles(q="rep_rt") == []  # "_" is literal too


async def test_sort_by_title_and_created(client_a, db, tenant_a):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for minute, title in enumerate(("banana", "apple", "cherry")):
        # One test transaction means one now(): give each item its own creation time.
        await create_items(db, tenant_a, title=title, created_at=start + timedelta(minutes=minute))
    asc = [i["title"] for i in (await client_a.get("/api/v1/items?sort=title")).json()["items"]]
    desc = [i["title"] for i in (await client_a.get("/api/v1/items?sort=-title")).json()["items"]]
    newest = [i["title"] for i in (await client_a.get("/api/v1/items")).json()["items"]]
    oldest = [i["title"] for i in (await client_a.get("/api/v1/items?sort=created")).json()["items"]]
    assert asc == ["apple", "banana", "cherry"]
    assert desc == list(reversed(asc))
    assert oldest == ["banana", "apple", "cherry"]
    assert newest == list(reversed(oldest))


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("get", "/api/v1/items?page_size=101", {}, 422, "validation_error"),
        ("get", "/api/v1/items?page_size=0", {}, 422, "validation_error"),
        ("get", "/api/v1/items?page=0", {}, 422, "validation_error"),
        ("get", "/api/v1/items?sort=price", {}, 422, "validation_error"),
        ("get", "/api/v1/items?status=lost", {}, 422, "validation_error"),
        ("get", "/api/v1/items/not-a-uuid", {}, 422, "validation_error"),
        ("post", "/api/v1/items", {"json": {"title": ""}}, 422, "validation_error"),
        ("post", "/api/v1/items", {"json": {"title": "x" * 201}}, 422, "validation_error"),
        ("post", "/api/v1/items", {"json": {"title": "t", "owner": "me"}}, 422, "validation_error"),
        ("post", "/api/v1/items", {"json": {"title": "t", "tags": ["x"] * 21}}, 422, "validation_error"),
        ("post", "/api/v1/items", {"json": ["title"]}, 422, "validation_error"),
        (
            "post",
            "/api/v1/items",
            {"content": b'{"title": ', "headers": {"content-type": "application/json"}},
            422,
            "invalid_json",
        ),
        ("put", "/api/v1/items", {}, 405, "method_not_allowed"),
        ("get", "/api/v1/nothing-here", {}, 404, "not_found"),
    ],
)
async def test_bad_input_gets_error_format_and_changes_nothing(client_a, method, path, kwargs, status, code):
    response = await client_a.request(method.upper(), path, **kwargs)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert (await client_a.get("/api/v1/items")).json()["total"] == 0


async def test_unknown_item_is_404(client_a):
    response = await client_a.get(f"/api/v1/items/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "item_not_found"


class TestCrossTenant:
    """Tenant beta can neither see nor touch tenant alpha's items."""

    async def test_list_shows_only_own_items(self, client_a, client_b, db, tenant_a, tenant_b):
        await create_items(db, tenant_a, 3, title="alpha-only")
        await create_items(db, tenant_b, 1, title="beta-only")
        a = (await client_a.get("/api/v1/items")).json()
        b = (await client_b.get("/api/v1/items")).json()
        assert {i["title"] for i in a["items"]} == {"alpha-only"}
        assert a["total"] == 3
        assert [i["title"] for i in b["items"]] == ["beta-only"]
        assert b["total"] == 1
        assert (await client_b.get("/api/v1/items", params={"q": "alpha"})).json()["total"] == 0

    async def test_get_by_id_from_other_tenant_is_404(self, client_a, client_b, db, tenant_a):
        [item] = await create_items(db, tenant_a)
        response = await client_b.get(f"/api/v1/items/{item.id}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "item_not_found"
        assert (await client_a.get(f"/api/v1/items/{item.id}")).status_code == 200

    async def test_update_from_other_tenant_is_404_and_changes_nothing(
        self, client_a, client_b, db, tenant_a
    ):
        [item] = await create_items(db, tenant_a, title="mine")
        response = await client_b.patch(f"/api/v1/items/{item.id}", json={"title": "stolen"})
        assert response.status_code == 404
        assert (await client_a.get(f"/api/v1/items/{item.id}")).json()["title"] == "mine"

    async def test_delete_from_other_tenant_is_404_and_keeps_the_item(self, client_a, client_b, db, tenant_a):
        [item] = await create_items(db, tenant_a)
        assert (await client_b.delete(f"/api/v1/items/{item.id}")).status_code == 404
        assert (await client_a.get(f"/api/v1/items/{item.id}")).status_code == 200

    async def test_created_item_lands_in_the_callers_schema(self, client_a, client_b):
        created = (await client_b.post("/api/v1/items", json={"title": "beta's"})).json()
        assert (await client_a.get(f"/api/v1/items/{created['id']}")).status_code == 404
        assert (await client_b.get(f"/api/v1/items/{created['id']}")).status_code == 200
