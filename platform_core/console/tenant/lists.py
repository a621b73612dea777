"""What the console's list pages share: the page number from the query, the permission catalogue, and
a list's whole query string read into a schema.

A list page keeps its search, filters, sort and page in the URL's query string, so a page is linkable
and the browser's back button works. `read_query` reads the query into a Pydantic model of the same
rules as the API's list parameters; a value that breaks a rule is shown next to its filter (the page
answers 422) and left out, so the rest of the page still works. `paging_of` is the forgiving page
number of the lists that take nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from fastapi import Request
from pydantic import BaseModel, Field, ValidationError

from platform_core.access.permissions import Permission
from platform_core.console.forms import errors_by_field
from platform_core.kernel.paging import DEFAULT_PAGE_SIZE, MAX_PAGE, MAX_PAGE_SIZE, PageParams

LIST_PAGE_SIZE = 25

# What each permission allows, in the words of the permission editor (roles) and the scopes (API keys).
PERMISSION_TEXT: dict[Permission, str] = {
    Permission.ITEMS_READ: "See items",
    Permission.ITEMS_WRITE: "Create, change and delete items",
    Permission.MEMBERS_READ: "See members, roles and invitations",
    Permission.MEMBERS_MANAGE: "Invite people, change roles, remove members",
    Permission.ROLES_MANAGE: "Create, change and delete custom roles",
    Permission.API_KEYS_MANAGE: "Create and revoke API keys",
    Permission.BILLING_READ: "See the plan and usage",
    Permission.BILLING_MANAGE: "Change the plan and payment details",
    Permission.UPLOADS_READ: "See and download files",
    Permission.UPLOADS_WRITE: "Upload and delete files",
    Permission.REPORTS_RUN: "Run reports",
    Permission.JOBS_READ: "See reports and background jobs",
    Permission.AUDIT_READ: "Read the audit log",
    Permission.TENANT_SETTINGS: "Change the workspace's settings",
    Permission.CHAT_READ: "Read the chat rooms one is a member of",
    Permission.CHAT_WRITE: "Post in chat rooms, create rooms, add members",
}

_AREA_NAMES = {"api_keys": "API keys", "tenant": "Workspace", "uploads": "Files", "jobs": "Jobs"}


@dataclass(frozen=True, slots=True)
class PermissionChoice:
    """One checkbox of a permission editor."""

    value: str
    text: str
    allowed: bool  # whether the signed-in user holds it (nobody grants what they lack)


@dataclass(frozen=True, slots=True)
class PermissionArea:
    """The permissions of one area (items, members, ...), shown together."""

    name: str
    choices: list[PermissionChoice]


def permission_areas(held: frozenset[Permission]) -> list[PermissionArea]:
    """Every permission of the catalogue (the API's `GET /api/v1/roles/permissions`), grouped by area
    in the catalogue's order; those the user lacks are marked, since nobody grants them."""
    areas: dict[str, list[PermissionChoice]] = {}
    for permission in Permission:
        area = permission.value.split(":", 1)[0]
        text = PERMISSION_TEXT.get(permission, permission.value)
        areas.setdefault(area, []).append(PermissionChoice(permission.value, text, permission in held))
    return [
        PermissionArea(_AREA_NAMES.get(area, area.replace("_", " ").capitalize()), choices)
        for area, choices in areas.items()
    ]


def paging_of(page: str | None, page_size: int = LIST_PAGE_SIZE) -> PageParams:
    """The page a list shows: `?page=N` when it is a page number, else the first (a browser's URL is
    forgiving where the API's is strict)."""
    try:
        number = int(page or 1)
    except ValueError:
        number = 1
    return PageParams(page=min(max(number, 1), MAX_PAGE), page_size=page_size)


Q = TypeVar("Q", bound="ListQuery")


class ListQuery(BaseModel):
    """The paging every list page takes, with the API's limits (`page` from 1, `page_size` 1-100)."""

    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)

    @property
    def paging(self) -> PageParams:
        """The page to fetch."""
        return PageParams(page=self.page, page_size=self.page_size)


@dataclass
class ListView(Generic[Q]):
    """A list page's query: the valid values, what was typed (to show it again), the errors."""

    path: str
    query: Q
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> int:
        """The page's status: 422 when a filter was not valid."""
        return 422 if self.errors else 200

    def url(self, **changes: Any) -> str:
        """This list's URL with some values changed (None or '' removes one); any change of a filter
        goes back to the first page unless `page` is given."""
        return list_url(self.path, self.values, **changes)

    def page_url(self) -> Callable[[int], str]:
        """The URL of each page number, for the pager macro."""
        return lambda number: self.url(page=number)

    @property
    def filtered(self) -> bool:
        """Whether any filter or search is applied (paging and sorting aside)."""
        return any(k not in ("page", "page_size", "sort") for k in self.values)


def list_url(path: str, values: Mapping[str, Any], **changes: Any) -> str:
    """`path` with a query string of `values` and `changes` (empty values are left out; a change that
    is not `page` starts again at page 1)."""
    merged: dict[str, Any] = dict(values)
    if changes and "page" not in changes:
        merged.pop("page", None)
    merged.update(changes)
    query = {k: str(v) for k, v in merged.items() if v is not None and str(v) != ""}
    if query.get("page") == "1":
        query.pop("page")
    return f"{path}?{urlencode(query)}" if query else path


def read_query(request: Request, model: type[Q]) -> ListView[Q]:
    """Read the request's query string into `model`; invalid values are reported and left out."""
    typed = {k: v.strip() for k, v in request.query_params.items() if k in model.model_fields}
    values = {k: v for k, v in typed.items() if v != ""}  # an empty filter field means no filter
    try:
        return ListView(request.url.path, model.model_validate(values), values)
    except ValidationError as exc:
        errors = errors_by_field(exc)
    kept = {k: v for k, v in values.items() if k not in errors}
    try:
        query = model.model_validate(kept)
    except ValidationError:  # a rule across fields (a range): drop every filter it involves
        query = model()
    return ListView(request.url.path, query, values, errors)
