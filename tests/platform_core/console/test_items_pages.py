"""The console's items pages over HTTP: the list's search, filters, sort and pages (in the URL), creating
once per form, editing with per-field errors, deleting, who may do what, and ids of other tenants."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from platform_core.items.models import Item
from tests.platform_core.console.data_support import error_of, signed_in_as, token
from tests.platform_core.console.support import nonce_of


@pytest.fixture
async def owner(app, db, tenant_a) -> Any:
    """Alpha's owner, signed in to the console."""
    async with signed_in_as(app, db, tenant_a, "owner") as client:
        yield client


async def _items(db, tenant) -> list[Item]:
    async with db.session(tenant.schema_name) as session:
        return list((await session.scalars(select(Item).order_by(Item.created_at))).all())


async def _add(db, tenant, *titles: str, **fields: Any) -> list[Item]:
    made = [Item(title=t, tags=fields.get("tags", []), status=fields.get("status", "open")) for t in titles]
    async with db.session(tenant.schema_name) as session:
        session.add_all(made)
        await session.commit()
    return made


def _titles(html: str) -> list[str]:
    return re.findall(r'<td><a href="/items/[0-9a-f-]+">([^<]+)</a></td>', html)


async def test_create_an_item_once_and_see_it(owner, db, tenant_a):
    form = await owner.get("/items/new")
    assert form.status_code == 200
    data = {
        "csrf_token": await token(owner, "/items/new"),
        "form_nonce": nonce_of(form.text),
        "title": "  Buy milk ",
        "description": "Two litres",
        "status": "in_progress",
        "tags": "Home, errands, home",
    }
    created = await owner.post("/items/new", data=data)
    assert created.status_code == 303
    items = await _items(db, tenant_a)
    assert [(i.title, i.description, i.status, i.tags) for i in items] == [
        ("Buy milk", "Two litres", "in_progress", ["home", "errands"])
    ]
    assert created.headers["location"] == f"/items/{items[0].id}"
    page = await owner.get(created.headers["location"])
    assert "Item created." in page.text
    assert "<h1>Buy milk</h1>" in page.text
    assert 'value="home, errands"' in page.text
    again = await owner.post("/items/new", data=data)  # the same form sent twice
    assert again.status_code == 303
    assert again.headers["location"] == "/items"
    assert len(await _items(db, tenant_a)) == 1
    assert "That item was already created." in (await owner.get("/items")).text


async def test_an_invalid_item_is_shown_again_with_its_errors(owner, db, tenant_a):
    form = await owner.get("/items/new")
    data = {
        "csrf_token": await token(owner),
        "form_nonce": nonce_of(form.text),
        "title": "   ",
        "status": "lost",
        "tags": "ok, " + "x" * 51,
    }
    response = await owner.post("/items/new", data=data)
    assert response.status_code == 422
    assert error_of(response.text, "title") == "String should have at least 1 character"
    assert "status" in response.text
    assert error_of(response.text, "status")
    assert error_of(response.text, "tags") == "String should have at most 50 characters"
    assert await _items(db, tenant_a) == []
    data["title"], data["status"], data["tags"] = "Fixed", "open", "ok"
    assert (await owner.post("/items/new", data=data)).status_code == 303  # the nonce was not spent
    assert [i.title for i in await _items(db, tenant_a)] == ["Fixed"]


async def test_edit_and_delete_an_item(owner, db, tenant_a):
    (item,) = await _add(db, tenant_a, "Draft", tags=["a"])
    csrf = await token(owner)
    bad = await owner.post(f"/items/{item.id}", data={"csrf_token": csrf, "title": "x" * 201, "tags": ""})
    assert bad.status_code == 422
    assert error_of(bad.text, "title") == "String should have at most 200 characters"
    saved = await owner.post(
        f"/items/{item.id}",
        data={"csrf_token": csrf, "title": "Final", "description": "", "status": "done", "tags": "b, c"},
    )
    assert saved.status_code == 303
    (changed,) = await _items(db, tenant_a)
    assert (changed.title, changed.description, changed.status, changed.tags) == (
        "Final",
        None,
        "done",
        ["b", "c"],
    )
    page = await owner.get(f"/items/{item.id}")
    assert 'data-confirm="Delete the item “Final”?"' in page.text
    deleted = await owner.post(f"/items/{item.id}/delete", data={"csrf_token": csrf})
    assert (deleted.status_code, deleted.headers["location"]) == (303, "/items")
    (gone,) = await _items(db, tenant_a)
    assert gone.deleted_at is not None
    assert (await owner.get(f"/items/{item.id}")).status_code == 404
    assert "Final" not in (await owner.get("/items")).text


async def test_the_list_searches_filters_sorts_and_pages_in_the_url(owner, db, tenant_a):
    await _add(db, tenant_a, "apple pie", "banana bread", tags=["baking"])
    await _add(db, tenant_a, "cherry jam", status="done", tags=["jars"])
    await _add(db, tenant_a, *(f"note {n:02d}" for n in range(25)))
    first = await owner.get("/items")
    assert first.status_code == 200
    assert len(_titles(first.text)) == 20
    assert "Page 1 of 2 · 28 in all" in first.text
    assert 'href="/items?page=2" rel="next"' in first.text
    assert len(_titles((await owner.get("/items?page=2")).text)) == 8
    assert _titles((await owner.get("/items?q=bread")).text) == ["banana bread"]
    assert _titles((await owner.get("/items?status=done")).text) == ["cherry jam"]
    by_tag = await owner.get("/items?tag=baking&sort=title")
    assert _titles(by_tag.text) == ["apple pie", "banana bread"]
    assert "Clear filters" in by_tag.text
    assert _titles((await owner.get("/items?tag=baking&sort=-title")).text) == ["banana bread", "apple pie"]
    small = await owner.get("/items?sort=title&page_size=2&page=2")
    assert _titles(small.text) == ["cherry jam", "note 00"]
    assert 'href="/items?sort=title&amp;page_size=2&amp;page=3" rel="next"' in small.text
    assert 'tag=baking"' in (await owner.get("/items?q=apple")).text  # a tag filters the list
    empty = await owner.get("/items?q=nothing-like-this")
    assert "No items match these filters." in empty.text


async def test_invalid_filters_are_shown_and_left_out(owner, db, tenant_a):
    await _add(db, tenant_a, "kept")
    response = await owner.get("/items?status=lost&page_size=500&q=kept")
    assert response.status_code == 422
    assert error_of(response.text, "status")
    assert error_of(response.text, "page_size") == "Input should be less than or equal to 100"
    assert _titles(response.text) == ["kept"]


async def test_a_viewer_reads_but_sees_no_buttons_and_cannot_write(app, db, tenant_a):
    (item,) = await _add(db, tenant_a, "Read me")
    async with signed_in_as(app, db, tenant_a, "viewer") as viewer:
        listing = await viewer.get("/items")
        assert listing.status_code == 200
        assert 'href="/items"' in listing.text  # the nav link
        assert "New item" not in listing.text
        page = await viewer.get(f"/items/{item.id}")
        assert page.status_code == 200
        assert "Delete item" not in page.text
        assert "Save item" not in page.text
        assert (await viewer.get("/items/new")).status_code == 403
        csrf = await token(viewer)
        refused = await viewer.post(f"/items/{item.id}/delete", data={"csrf_token": csrf})
        assert refused.status_code == 403
        assert "You cannot open this page" in refused.text
    assert (await _items(db, tenant_a))[0].deleted_at is None


async def test_a_role_without_items_gets_no_link_and_the_403_page(app, db, tenant_a):
    from tests.conftest import client_for, host_of
    from tests.factories import create_role, create_user
    from tests.platform_core.console.support import console_sign_in

    role = await create_role(db, tenant_a, f"auditor-{uuid.uuid4().hex[:6]}", ["audit:read"])
    user = await create_user(db, tenant_a, role_id=role.id)
    async with client_for(app, host_of(tenant_a)) as client:
        await console_sign_in(client, user.email)
        home = await client.get("/")
        assert 'href="/items"' not in home.text
        assert (await client.get("/items")).status_code == 403


async def test_another_tenants_item_is_the_404_page(owner, db, tenant_b):
    (other,) = await _add(db, tenant_b, "Beta's")
    csrf = await token(owner)
    assert (await owner.get(f"/items/{other.id}")).status_code == 404
    response = await owner.post(f"/items/{other.id}", data={"csrf_token": csrf, "title": "stolen"})
    assert response.status_code == 404
    assert (await owner.post(f"/items/{other.id}/delete", data={"csrf_token": csrf})).status_code == 404
    assert [(i.title, i.deleted_at) for i in await _items(db, tenant_b)] == [("Beta's", None)]
