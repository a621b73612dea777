"""What can go wrong managing members."""

from __future__ import annotations

from platform_core.kernel.errors import Conflict, Forbidden, NotFound, Unprocessable


class MemberNotFound(NotFound):
    """No such member in this tenant."""

    code = "member_not_found"
    message = "No member with this id."


class UnknownRole(Unprocessable):
    """The role named does not exist in this tenant."""

    code = "unknown_role"
    message = "No role with this name."


class CannotGrant(Forbidden):
    """The caller tried to hand out permissions they do not hold."""

    code = "cannot_grant"
    message = "You cannot grant permissions you do not hold."


class MemberOutranksYou(Forbidden):
    """The member holds permissions the caller lacks, so the caller cannot change or remove them."""

    code = "member_outranks_you"
    message = "This member holds permissions you do not have; you cannot change or remove them."


class LastOwner(Conflict):
    """The change would leave the tenant without an owner."""

    code = "last_owner"
    message = "A workspace keeps at least one owner: make someone else owner first."
