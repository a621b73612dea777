"""What can go wrong with invitations."""

from __future__ import annotations

from platform_core.kernel.errors import Conflict, NotFound


class InvitationNotFound(NotFound):
    """No such open invitation in this tenant."""

    code = "invitation_not_found"
    message = "No open invitation with this id."


class AlreadyMember(Conflict):
    """The address already belongs to a member."""

    code = "already_member"
    message = "This address already belongs to a member."


class AlreadyInvited(Conflict):
    """An open invitation exists for this address."""

    code = "already_invited"
    message = "This address already has an open invitation; resend or revoke it."
