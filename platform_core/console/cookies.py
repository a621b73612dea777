"""The console's cookies: the browser session, the visitor's form binding, and one-shot notices.

Every cookie is host-only (no `Domain`), so tenant A's cookies never reach tenant B's host; HttpOnly,
`SameSite=Lax`, and `Secure` outside development and test. The session cookie holds a signed token of
the console's own audience naming the user and the sign-in session (the refresh-token family the API
uses), so signing out, "sign out everywhere", a password change and a removed member end it at once.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass

from fastapi import Request, Response

from platform_core.access.principal import VERIFIED
from platform_core.kernel.security.tokens import (
    InvalidToken,
    SigningKeys,
    issue_access_token,
)
from platform_core.kernel.settings import Settings

SESSION_COOKIE = "session"
VISITOR_COOKIE = "visitor"
NOTICE_COOKIE = "notice"
_NOTICE_MAX = 300


@dataclass(frozen=True, slots=True)
class BrowserSession:
    """What a valid session cookie names."""

    subject: str
    session_id: str
    signed_in_at: int
    expires_at: int


def _set(response: Response, settings: Settings, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", httponly=True, secure=settings.secure_cookies, samesite="lax"
    )


def clear(response: Response, settings: Settings, name: str) -> None:
    """Delete a console cookie."""
    response.delete_cookie(name, path="/", httponly=True, secure=settings.secure_cookies, samesite="lax")


def set_session(
    response: Response,
    settings: Settings,
    keys: SigningKeys,
    *,
    audience: str,
    subject: str,
    session_id: str,
    signed_in_at: int | None = None,
    ttl_seconds: int | None = None,
) -> None:
    """Set the session cookie: a token for `audience` naming the subject and its sign-in session."""
    ttl = ttl_seconds or settings.console_session_hours * 3600
    now = int(time.time())
    token = issue_access_token(
        keys, subject=subject, audience=audience, ttl_seconds=ttl, sid=session_id, sat=signed_in_at or now
    )
    _set(response, settings, SESSION_COOKIE, token, ttl)


def read_session(request: Request, keys: SigningKeys, audience: str) -> BrowserSession | None:
    """The session the cookie names for `audience`, if its token is valid (the caller checks revocation)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        claims = VERIFIED.decode(keys, token, audience=audience)  # verified once per process
        return BrowserSession(
            subject=claims.subject,
            session_id=str(claims.extra["sid"]),
            signed_in_at=int(claims.extra["sat"]),
            expires_at=claims.expires_at,
        )
    except (InvalidToken, KeyError, TypeError, ValueError):
        return None


def needs_renewal(browser: BrowserSession, settings: Settings, ttl_seconds: int | None = None) -> bool:
    """Whether the session is past half its life and may still be renewed (its sign-in is recent enough)."""
    ttl = ttl_seconds or settings.console_session_hours * 3600
    now = int(time.time())
    longest = settings.refresh_token_ttl_days * 86_400
    return browser.expires_at - now < ttl // 2 and now - browser.signed_in_at < longest


def visitor_id(request: Request) -> str:
    """The visitor's random id (from its cookie, or a new one the response will set)."""
    existing = request.cookies.get(VISITOR_COOKIE, "")
    if 16 <= len(existing) <= 64 and existing.isalnum():
        return existing
    new: str | None = getattr(request.state, "new_visitor", None)
    if new is None:
        new = request.state.new_visitor = secrets.token_hex(16)
    return new


def finish(request: Request, response: Response, settings: Settings) -> None:
    """Set the cookies a page decided on: a new visitor id, a notice read (cleared)."""
    new_visitor = getattr(request.state, "new_visitor", None)
    if new_visitor and VISITOR_COOKIE not in request.cookies:
        _set(response, settings, VISITOR_COOKIE, new_visitor, None)
    if getattr(request.state, "notice_read", False):
        clear(response, settings, NOTICE_COOKIE)


def finish_with_session(
    request: Request, response: Response, settings: Settings, keys: SigningKeys, audience: str | None
) -> None:
    """`finish`, then the session cookie: renewed (for `audience`) when the page found it past half its
    life, cleared when the session behind it has ended; left alone when the page set or cleared it."""
    finish(request, response, settings)
    if SESSION_COOKIE in {
        v.split("=", 1)[0] for k, v in response.headers.items() if k.lower() == "set-cookie"
    }:
        return
    renew = getattr(request.state, "renew_session", None)
    if renew is not None and audience is not None:
        set_session(
            response,
            settings,
            keys,
            audience=audience,
            subject=renew.subject,
            session_id=renew.session_id,
            signed_in_at=renew.signed_in_at,
        )
    elif getattr(request.state, "session_ended", False):
        clear(response, settings, SESSION_COOKIE)


def set_notice(response: Response, settings: Settings, text: str) -> None:
    """A one-line notice shown on the next page (after a redirect), once."""
    _set(response, settings, NOTICE_COOKIE, text[:_NOTICE_MAX].encode().hex(), 120)


def read_notice(request: Request) -> str | None:
    """The notice set by the previous response, if any (the page's response clears it)."""
    raw = request.cookies.get(NOTICE_COOKIE)
    if not raw:
        return None
    request.state.notice_read = True
    try:
        return bytes.fromhex(raw).decode()[:_NOTICE_MAX]
    except ValueError:
        return None


def new_session_id() -> str:
    """An id for a browser session that has no server-side family (the operator console's)."""
    return str(uuid.uuid4())
