"""The granting rule every service shares: nobody hands out a permission they do not hold."""

from __future__ import annotations

import uuid

import pytest

from platform_core.access.permissions import BUILTIN_ROLES, Permission
from platform_core.access.principal import Principal, PrincipalKind
from platform_core.members.exceptions import CannotGrant
from platform_core.members.service import check_can_grant


def test_nobody_grants_what_they_do_not_hold():
    member = Principal(
        kind=PrincipalKind.USER,
        user_id=uuid.uuid4(),
        email="m@example.org",
        permissions=BUILTIN_ROLES["member"],
        role="member",
        tenant_id=uuid.uuid4(),
    )
    check_can_grant(member, frozenset({Permission.ITEMS_READ}))
    with pytest.raises(CannotGrant) as refused:
        check_can_grant(member, frozenset({Permission.ITEMS_READ, Permission.ROLES_MANAGE}))
    assert refused.value.details == {"missing_permissions": ["roles:manage"]}
