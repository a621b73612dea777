"""CSRF protection of every state-changing console request.

A form carries a token derived (HMAC with the secret key) from what it is bound to: the sign-in session
of a signed-in user, else the visitor cookie. Another site can neither read the token nor make a
browser send the cookies with a cross-site POST (`SameSite=Lax`), and a request the browser itself
marks as cross-site (`Sec-Fetch-Site`) is refused before anything else.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from platform_core.kernel.errors import Forbidden
from platform_core.kernel.settings import Settings

FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRefused(Forbidden):
    """The form's CSRF token is missing, wrong, or of another session."""

    code = "csrf_failed"
    message = "This form has expired or did not come from this site. Reload the page and try again."


def token_for(settings: Settings, binding: str) -> str:
    """The CSRF token of forms bound to `binding` (a session id or a visitor id)."""
    return hmac.new(settings.secret_key.encode(), f"csrf:{binding}".encode(), hashlib.sha256).hexdigest()


async def verify(request: Request, settings: Settings, binding: str) -> None:
    """Refuse an unsafe request whose form does not carry the token of `binding` (CsrfRefused)."""
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise CsrfRefused
    form = await request.form()
    sent = form.get(FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, token_for(settings, binding)):
        raise CsrfRefused
