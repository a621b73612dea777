"""What can go wrong managing roles."""

from __future__ import annotations

from platform_core.kernel.errors import Conflict, NotFound, Unprocessable


class RoleNotFound(NotFound):
    """No such role in this tenant."""

    code = "role_not_found"
    message = "No role with this id."


class RoleNameTaken(Conflict):
    """Another role has this name (built-in names are always taken)."""

    code = "role_name_taken"
    message = "A role with this name already exists."


class BuiltinRoleReadOnly(Conflict):
    """Built-in roles cannot be changed or deleted."""

    code = "builtin_role"
    message = "Built-in roles cannot be changed or deleted; create a custom role instead."


class RoleInUse(Conflict):
    """Members or open invitations still have the role."""

    code = "role_in_use"
    message = "Members or open invitations still have this role; move them to another role first."


class UnknownPermission(Unprocessable):
    """A permission name that does not exist."""

    code = "unknown_permission"
