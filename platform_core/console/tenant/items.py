"""The tenant console's items: the list (search, filters, sort, pages), creating, editing, deleting.

Each page calls the items service exactly as `/api/v1/items` does, behind the same gates (items:read
to look, items:write to change), and forms are validated by the API's own schemas.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Response
from pydantic import Field, StringConstraints, ValidationError

from platform_core.access.permissions import Permission
from platform_core.console.forms import (
    claim_submission,
    errors_by_field,
    new_nonce,
    release_submission,
)
from platform_core.console.templating import render
from platform_core.console.tenant.lists import ListQuery, read_query
from platform_core.console.tenant.pages import TenantPage, permission_page, redirect
from platform_core.console.tenant.route import tenant_router
from platform_core.items import service as item_service
from platform_core.items.dependencies import get_current_item
from platform_core.items.models import Item, ItemStatus
from platform_core.items.repository import ItemFilter
from platform_core.items.schemas import ItemCreate, ItemSort, ItemUpdate

router = tenant_router()

ItemsReadPage = Annotated[TenantPage, Depends(permission_page(Permission.ITEMS_READ))]
ItemsWritePage = Annotated[TenantPage, Depends(permission_page(Permission.ITEMS_WRITE))]

STATUS_LABELS = {
    ItemStatus.OPEN.value: "Open",
    ItemStatus.IN_PROGRESS.value: "In progress",
    ItemStatus.DONE.value: "Done",
}
SORT_LABELS = {
    ItemSort.CREATED_DESC.value: "Newest first",
    ItemSort.CREATED.value: "Oldest first",
    ItemSort.TITLE.value: "Title A-Z",
    ItemSort.TITLE_DESC.value: "Title Z-A",
}
_CREATE_SCOPE = "items.create"


class ItemListQuery(ListQuery):
    """The list's search, filters and sort: the same parameters and limits as `GET /api/v1/items`."""

    q: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    status: ItemStatus | None = None
    tag: Annotated[str, StringConstraints(min_length=1, max_length=50)] | None = None
    sort: ItemSort = Field(default=ItemSort.CREATED_DESC)


def tags_of(text: str) -> list[str]:
    """The tags typed in the form's one field: separated by commas."""
    return [t.strip() for t in text.split(",") if t.strip()]


def _item_fields(values: dict[str, Any]) -> dict[str, Any]:
    """A posted item form as the API's body: tags from their text field, an empty description as none."""
    data: dict[str, Any] = {k: values[k] for k in ("title", "description", "status") if k in values}
    if "description" in data and not str(data["description"]).strip():
        data["description"] = None
    if "tags" in values:
        data["tags"] = tags_of(str(values["tags"]))
    return data


async def _posted(page: TenantPage) -> dict[str, Any]:
    """The item form's fields as typed (shown again when they are not valid)."""
    form = await page.request.form()
    fields = ("title", "description", "status", "tags")
    return {name: value for name in fields if isinstance(value := form.get(name), str)}


def _form_values(item: Item) -> dict[str, Any]:
    return {
        "title": item.title,
        "description": item.description or "",
        "status": item.status,
        "tags": ", ".join(item.tags),
    }


def _tag_errors(errors: dict[str, str]) -> dict[str, str]:
    """A tag's error (loc `tags.N`) is shown on the tags field."""
    return {("tags" if k.startswith("tags") else k): v for k, v in errors.items()}


async def _item(page: TenantPage, item_id: uuid.UUID) -> Item:
    """The live item, in this tenant; the 404 page otherwise (the API's own lookup)."""
    return await get_current_item(item_id, page.session)


def _item_form(
    page: TenantPage,
    template: str,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    item: Item | None = None,
    status: int = 200,
) -> Response:
    context = {
        "item": item,
        "values": values,
        "errors": errors,
        "status_options": list(STATUS_LABELS.items()),
        "status_labels": STATUS_LABELS,
        "can_write": page.can(Permission.ITEMS_WRITE),
        "form_nonce": new_nonce(),
    }
    return render(page.request, template, context, status_code=status)


@router.get("/items")
async def list_items(page: ItemsReadPage) -> Response:
    """The workspace's items: search, filter by status or tag, sort, page."""
    view = read_query(page.request, ItemListQuery)
    q = view.query
    flt = ItemFilter(status=q.status.value if q.status else None, tag=q.tag.lower() if q.tag else None, q=q.q)
    items = await item_service.list_items(page.session, flt, sort=q.sort, paging=q.paging)
    context = {
        "view": view,
        "items": items,
        "status_options": [("", "Any status"), *STATUS_LABELS.items()],
        "status_labels": STATUS_LABELS,
        "sort_options": list(SORT_LABELS.items()),
        "can_write": page.can(Permission.ITEMS_WRITE),
    }
    return render(page.request, "tenant/items.html", context, status_code=view.status)


@router.get("/items/new")
async def new_item(page: ItemsWritePage) -> Response:
    """The form for a new item."""
    return _item_form(page, "tenant/item_new.html", values={"status": ItemStatus.OPEN.value}, errors={})


@router.post("/items/new")
async def create_item(page: ItemsWritePage) -> Response:
    """Create an item (once per form, however often it is sent) and open it."""
    values = await _posted(page)
    try:
        body = ItemCreate.model_validate(_item_fields(values))
    except ValidationError as exc:
        return _item_form(
            page, "tenant/item_new.html", values=values, errors=_tag_errors(errors_by_field(exc)), status=422
        )
    if not await claim_submission(page.request, _CREATE_SCOPE):
        return redirect("/items", notice="That item was already created.", settings=page.settings)
    try:
        item = await item_service.create_item(page.session, body)
    except BaseException:
        await release_submission(page.request, _CREATE_SCOPE)
        raise
    return redirect(f"/items/{item.id}", notice="Item created.", settings=page.settings)


@router.get("/items/{item_id}")
async def show_item(page: ItemsReadPage, item_id: uuid.UUID) -> Response:
    """One item: its fields, and the form to change them for those who may."""
    item = await _item(page, item_id)
    return _item_form(page, "tenant/item.html", item=item, values=_form_values(item), errors={})


@router.post("/items/{item_id}")
async def update_item(page: ItemsWritePage, item_id: uuid.UUID) -> Response:
    """Save an item's fields."""
    item = await _item(page, item_id)
    values = await _posted(page)
    try:
        body = ItemUpdate.model_validate(_item_fields(values))
    except ValidationError as exc:
        errors = _tag_errors(errors_by_field(exc))
        return _item_form(page, "tenant/item.html", item=item, values=values, errors=errors, status=422)
    await item_service.update_item(page.session, item, body)
    return redirect(f"/items/{item.id}", notice="Item saved.", settings=page.settings)


@router.post("/items/{item_id}/delete")
async def delete_item(page: ItemsWritePage, item_id: uuid.UUID) -> Response:
    """Delete an item (it can no longer be read) and go back to the list."""
    item = await _item(page, item_id)
    await item_service.delete_item(page.session, item)
    return redirect("/items", notice=f"Item “{item.title}” deleted.", settings=page.settings)
