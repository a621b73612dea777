"""What the console's list pages share: the page number from the query, the permission catalogue."""

from __future__ import annotations

from dataclasses import dataclass

from platform_core.access.permissions import Permission
from platform_core.kernel.paging import MAX_PAGE, PageParams

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
