"""The permission catalogue and the built-in roles."""

from __future__ import annotations

import pytest

from platform_core.access.permissions import ALL, BUILTIN_ROLES, Permission, parse_permissions


def test_owner_holds_everything_and_roles_shrink_downwards():
    assert BUILTIN_ROLES["owner"] == ALL
    assert BUILTIN_ROLES["viewer"] < BUILTIN_ROLES["member"] < BUILTIN_ROLES["admin"] < BUILTIN_ROLES["owner"]
    assert Permission.BILLING_MANAGE not in BUILTIN_ROLES["admin"]
    assert Permission.ITEMS_WRITE not in BUILTIN_ROLES["viewer"]


def test_parse_permissions():
    assert parse_permissions(["items:read", "items:write"]) == {Permission.ITEMS_READ, Permission.ITEMS_WRITE}
    with pytest.raises(ValueError, match="items:delete"):
        parse_permissions(["items:read", "items:delete"])
