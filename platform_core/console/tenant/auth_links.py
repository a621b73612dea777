"""The tenant console's visitor pages besides sign-in: sign-up, forgot password, and the pages every
emailed link lands on (verify email, reset password, a new owner's first password).

Opening a link never spends it (mail scanners fetch links): its page shows a form, and the token goes
back in a hidden field of the form's POST. Pages with a token in their URL are sent with
`Referrer-Policy: no-referrer`, and no redirect carries a token.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request, Response
from pydantic import ValidationError

from billing.dependencies import SeatLimitReached
from platform_core.auth import service as auth_service
from platform_core.auth.dependencies import get_auth_scope
from platform_core.auth.exceptions import ExpiredLink, InvalidLink, SignupClosed
from platform_core.auth.schemas import EmailRequest, ResetPasswordRequest, SignUpRequest, TokenRequest
from platform_core.auth.throttle import TooManyAttempts
from platform_core.console import cookies
from platform_core.console.forms import claim_submission, new_nonce, read_form, release_submission
from platform_core.console.templating import render
from platform_core.console.tenant.pages import TenantPage, VisitorPage, redirect
from platform_core.console.tenant.route import tenant_router
from platform_core.kernel.security.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    InvalidPassword,
    check_password_rules,
)
from platform_core.tenant_settings import service as tenant_settings_service

router = tenant_router()

PASSWORD_HINT = f"{MIN_LENGTH} to {MAX_LENGTH} characters."
SEATS_FULL = (
    "This workspace has no free seat for a new account. Ask an owner or admin of it to make room "
    "or to move to a larger plan."
)

PasswordLink = Literal["reset", "set"]
LinkKind = Literal["reset", "set", "verify"]

# The wording of the two pages that set a password from a link.
_PASSWORD_PAGES: dict[PasswordLink, dict[str, str]] = {
    "reset": {
        "heading": "Choose a new password",
        "lead": "Choose the new password of {email}. Every session of the account is signed out.",
        "button": "Save new password",
        "action_url": "/reset-password",
        "done": "Your password is changed. Sign in with the new one.",
    },
    "set": {
        "heading": "Choose your password",
        "lead": "You are an owner of {tenant}. Choose the password you will sign in with as {email}.",
        "button": "Save my password",
        "action_url": "/set-password",
        "done": "Your password is set. Sign in with it.",
    },
}


def with_password_rule(errors: dict[str, str], values: dict[str, Any], name: str) -> dict[str, str]:
    """The errors of a form that failed validation, plus the password rule's for field `name` (the rule
    is the service's, which the form never reached): the user sees every mistake at once."""
    if name in errors:
        return errors
    try:
        check_password_rules(values.get(name, ""))
    except InvalidPassword as exc:
        return {**errors, name: exc.message}
    return errors


def _no_referrer(response: Response) -> Response:
    """A page whose URL (or form) holds a link's token: no other site may read it from the Referer."""
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _valid_token(token: str | None) -> str | None:
    """The token if it has the shape the API accepts, else None (an invalid link)."""
    try:
        return TokenRequest.model_validate({"token": token}).token
    except ValidationError:
        return None


def _link_failed(page: TenantPage, kind: LinkKind, exc: InvalidLink | ExpiredLink | None = None) -> Response:
    """The page of a link that cannot be used, with a form to ask for a new one."""
    expired = isinstance(exc, ExpiredLink)
    context = {
        "kind": kind,
        "heading": "This link has expired" if expired else "This link cannot be used",
        "message": (
            "The link is too old to use."
            if expired
            else "It is not a valid link, or it was already used (each link works once)."
        ),
        "again_url": "/resend-verification" if kind == "verify" else "/forgot-password",
    }
    return _no_referrer(render(page.request, "tenant/link_invalid.html", context, status_code=400))


def _link_sent(page: TenantPage, heading: str, message: str, hours: int, again_url: str | None) -> Response:
    context = {"heading": heading, "message": message, "expires_in_hours": hours, "again_url": again_url}
    return render(page.request, "tenant/link_sent.html", context)


# Sign-up


def _sign_up_form(
    page: TenantPage, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    context = {"values": values, "errors": errors, "new_nonce": new_nonce(), "password_hint": PASSWORD_HINT}
    return render(page.request, "tenant/sign_up.html", context, status_code=status)


def _sign_up_closed(page: TenantPage) -> Response:
    return render(page.request, "tenant/sign_up_closed.html", {}, status_code=403)


def _sign_up_refused(page: TenantPage, values: dict[str, str], exc: Exception) -> Response:
    """The sign-up page again, saying why the service refused."""
    if isinstance(exc, SignupClosed):
        return _sign_up_closed(page)
    if isinstance(exc, InvalidPassword):
        return _sign_up_form(page, values, {"password": exc.message}, status=422)
    if isinstance(exc, SeatLimitReached):
        return _sign_up_form(page, values, {"__all__": SEATS_FULL}, status=402)
    assert isinstance(exc, TooManyAttempts)
    response = _sign_up_form(page, values, {"__all__": exc.message}, status=429)
    response.headers.update(exc.headers or {})
    return response


@router.get("/sign-up")
async def sign_up_form(page: VisitorPage) -> Response:
    """The sign-up form, when the workspace allows sign-up (else a page saying it is closed)."""
    if page.principal is not None:
        return redirect("/")
    if not (await tenant_settings_service.get(page.session)).allow_signup:
        return _sign_up_closed(page)
    return _sign_up_form(page, {}, {})


@router.post("/sign-up")
async def sign_up(page: VisitorPage, request: Request) -> Response:
    """Create a member account and email its verification link (the same answer for a taken address)."""
    form = await read_form(request, SignUpRequest)
    values = {"email": form.values.get("email", ""), "full_name": form.values.get("full_name", "")}
    if form.model is None:
        return _sign_up_form(
            page, values, with_password_rule(form.errors, form.values, "password"), status=422
        )
    if not await claim_submission(request, scope=str(page.tenant.id)):
        return redirect("/sign-up/sent")  # the same form again: the first one did the work
    scope = await get_auth_scope(request)
    try:
        await auth_service.sign_up(
            page.session,
            scope,
            email=form.model.email,
            password=form.model.password,
            full_name=form.model.full_name,
        )
    except (SignupClosed, InvalidPassword, SeatLimitReached, TooManyAttempts) as exc:
        await release_submission(request, scope=str(page.tenant.id))  # nothing was done: it may be sent again
        return _sign_up_refused(page, values, exc)
    return redirect("/sign-up/sent")


@router.get("/sign-up/sent")
async def sign_up_sent(page: VisitorPage) -> Response:
    """After sign-up: check your inbox."""
    return _link_sent(
        page,
        "Check your inbox",
        "We sent you a link to confirm your email address. Follow it, then sign in.",
        page.settings.email_verification_ttl_hours,
        "/resend-verification",
    )


# Forgot password, and a new verification link


def _email_form(
    page: TenantPage,
    kind: Literal["reset", "verify"],
    values: dict[str, str],
    errors: dict[str, str],
    status: int,
) -> Response:
    context: dict[str, Any]
    if kind == "reset":
        context = {
            "heading": "Forgot your password?",
            "lead": "Enter the email address of your account. We email you a link to choose a new password.",
            "button": "Email me a link",
            "action_url": "/forgot-password",
        }
    else:
        context = {
            "heading": "Verify your email address",
            "lead": "Enter the email address you signed up with. We email you a new link to verify it.",
            "button": "Email me a new link",
            "action_url": "/resend-verification",
        }
    context |= {"values": values, "errors": errors}
    return render(page.request, "tenant/email_form.html", context, status_code=status)


async def _request_link(page: TenantPage, request: Request, kind: Literal["reset", "verify"]) -> Response:
    form = await read_form(request, EmailRequest)
    values = {"email": form.values.get("email", "")}
    if form.model is None:
        return _email_form(page, kind, values, form.errors, status=422)
    scope = await get_auth_scope(request)
    try:
        if kind == "reset":
            await auth_service.request_password_reset(page.session, scope, email=form.model.email)
        else:
            await auth_service.resend_verification(page.session, scope, email=form.model.email)
    except TooManyAttempts as exc:
        response = _email_form(page, kind, values, {"__all__": exc.message}, status=429)
        response.headers.update(exc.headers or {})
        return response
    return redirect("/forgot-password/sent" if kind == "reset" else "/resend-verification/sent")


@router.get("/forgot-password")
async def forgot_password_form(page: VisitorPage) -> Response:
    """Ask for a link to choose a new password."""
    return _email_form(page, "reset", {}, {}, status=200)


@router.post("/forgot-password")
async def forgot_password(page: VisitorPage, request: Request) -> Response:
    """Email a reset link if the address has an account (the same answer either way)."""
    return await _request_link(page, request, "reset")


@router.get("/forgot-password/sent")
async def forgot_password_sent(page: VisitorPage) -> Response:
    """After asking for a reset link."""
    return _link_sent(
        page,
        "Check your inbox",
        "If that address has an account, a link to choose a new password is on its way.",
        page.settings.password_reset_ttl_hours,
        "/forgot-password",
    )


@router.get("/resend-verification")
async def resend_verification_form(page: VisitorPage) -> Response:
    """Ask for a new link to verify an email address."""
    return _email_form(page, "verify", {}, {}, status=200)


@router.post("/resend-verification")
async def resend_verification(page: VisitorPage, request: Request) -> Response:
    """Email a new verification link if the address has an unverified account (the same answer either way)."""
    return await _request_link(page, request, "verify")


@router.get("/resend-verification/sent")
async def resend_verification_sent(page: VisitorPage) -> Response:
    """After asking for a new verification link."""
    return _link_sent(
        page,
        "Check your inbox",
        "If that address has an account waiting for verification, a new link is on its way.",
        page.settings.email_verification_ttl_hours,
        "/resend-verification",
    )


# Reset password and a new owner's first password


def _new_password_form(
    page: TenantPage,
    kind: PasswordLink,
    token: str,
    email: str,
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    wording = _PASSWORD_PAGES[kind]
    context = {
        **wording,
        "lead": wording["lead"].format(email=email or "your account", tenant=page.tenant.name),
        "token": token,
        "email": email,
        "values": {},
        "errors": errors,
        "password_hint": PASSWORD_HINT,
    }
    return _no_referrer(render(page.request, "tenant/new_password.html", context, status_code=status))


async def _password_link_page(page: TenantPage, kind: PasswordLink, token: str | None) -> Response:
    valid = _valid_token(token)
    if valid is None:
        return _link_failed(page, kind)
    try:
        user = await auth_service.check_password_link(page.session, token=valid)
    except (InvalidLink, ExpiredLink) as exc:
        return _link_failed(page, kind, exc)
    return _new_password_form(page, kind, valid, user.email, {})


async def _set_password(page: TenantPage, request: Request, kind: PasswordLink) -> Response:
    form = await read_form(request, ResetPasswordRequest)
    token = _valid_token(form.values.get("token"))
    email = form.values.get("username", "")
    if token is None:
        return _link_failed(page, kind)
    if form.model is None:
        errors = with_password_rule(form.errors, form.values, "password")
        return _new_password_form(page, kind, token, email, errors, status=422)
    scope = await get_auth_scope(request)
    try:
        await auth_service.reset_password(page.session, scope, token=token, password=form.model.password)
    except InvalidPassword as exc:
        return _new_password_form(page, kind, token, email, {"password": exc.message}, status=422)
    except (InvalidLink, ExpiredLink) as exc:
        return _link_failed(page, kind, exc)
    response = redirect("/sign-in", notice=_PASSWORD_PAGES[kind]["done"], settings=page.settings)
    if cookies.SESSION_COOKIE in request.cookies:  # every session of the account ended, this one too
        cookies.clear(response, page.settings, cookies.SESSION_COOKIE)
    return _no_referrer(response)


@router.get("/reset-password")
async def reset_password_form(page: VisitorPage, token: str | None = None) -> Response:
    """The page of an emailed reset link: the new-password form (the link is spent only by the form)."""
    return await _password_link_page(page, "reset", token)


@router.post("/reset-password")
async def reset_password(page: VisitorPage, request: Request) -> Response:
    """Set the new password with the link's token; every session ends, then sign in."""
    return await _set_password(page, request, "reset")


@router.get("/set-password")
async def set_password_form(page: VisitorPage, token: str | None = None) -> Response:
    """The page of a new owner's emailed link: choose the first password."""
    return await _password_link_page(page, "set", token)


@router.post("/set-password")
async def set_password(page: VisitorPage, request: Request) -> Response:
    """Set the owner's first password with the link's token, then sign in."""
    return await _set_password(page, request, "set")


# Verify an email address


@router.get("/verify-email")
async def verify_email_form(page: VisitorPage, token: str | None = None) -> Response:
    """The page of an emailed verification link: a button verifies (opening the link alone does not)."""
    valid = _valid_token(token)
    if valid is None:
        return _link_failed(page, "verify")
    try:
        user = await auth_service.check_verification_link(page.session, token=valid)
    except (InvalidLink, ExpiredLink) as exc:
        return _link_failed(page, "verify", exc)
    context = {"token": valid, "email": user.email}
    return _no_referrer(render(page.request, "tenant/verify_email.html", context))


@router.post("/verify-email")
async def verify_email(page: VisitorPage, request: Request) -> Response:
    """Verify the address with the link's token."""
    form = await read_form(request, TokenRequest)
    if form.model is None:
        return _link_failed(page, "verify")
    scope = await get_auth_scope(request)
    try:
        await auth_service.verify_email(page.session, scope, token=form.model.token)
    except (InvalidLink, ExpiredLink) as exc:
        return _link_failed(page, "verify", exc)
    return _no_referrer(redirect("/verify-email/done"))


@router.get("/verify-email/done")
async def email_verified(page: VisitorPage) -> Response:
    """After verifying: the way to sign in."""
    return render(page.request, "tenant/email_verified.html", {})
