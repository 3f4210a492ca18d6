"""The pages' session cookie and CSRF tokens.

A password login (``usecases.users.login``) gives a session token; the pages keep it in the
HttpOnly, SameSite=Lax cookie ``fundflow_token``, which ``api.deps.current_user`` reads too.

CSRF: every form POST carries a token in the hidden field ``csrf_token`` (or the header
``X-CSRF-Token``). Signed in, the token is an HMAC of the session token under the secret key,
so it is per session and needs no storage; before login (the login form itself) it is an HMAC
of a random cookie ``fundflow_csrf`` (a signed double-submit cookie). A cross-site page can
neither read the cookie nor compute the HMAC.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request
from starlette.responses import Response

__all__ = [
    "SESSION_COOKIE",
    "PRELOGIN_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "session_token",
    "csrf_for_session",
    "csrf_for_login",
    "check_csrf",
    "set_session",
    "clear_session",
    "ensure_prelogin",
    "set_prelogin",
    "safe_next",
]

SESSION_COOKIE = "fundflow_token"
PRELOGIN_COOKIE = "fundflow_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def _mac(secret: str, purpose: str, value: str) -> str:
    return hmac.new(secret.encode(), f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def csrf_for_session(secret: str, token: str) -> str:
    return _mac(secret, "csrf-session", token)


def csrf_for_login(secret: str, prelogin: str) -> str:
    return _mac(secret, "csrf-login", prelogin)


def check_csrf(expected: str | None, submitted: str | None) -> bool:
    return bool(expected and submitted) and hmac.compare_digest(expected, submitted)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session(response: Response, request: Request, token: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax", secure=_secure(request), path="/"
    )
    response.delete_cookie(PRELOGIN_COOKIE, path="/")


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request))


def ensure_prelogin(request: Request) -> tuple[str, bool]:
    """The pre-login CSRF cookie's value, and whether it must be set on the response."""
    value = request.cookies.get(PRELOGIN_COOKIE)
    if value and 20 <= len(value) <= 100:
        return value, False
    return secrets.token_urlsafe(24), True


def set_prelogin(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        PRELOGIN_COOKIE, value, max_age=3600 * 24, httponly=True, samesite="lax", secure=_secure(request), path="/"
    )


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a local path may be the page to go to after login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(c) < 32 for c in target):
        return default
    return target
