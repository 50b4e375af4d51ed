"""CSRF tokens for the dashboard's POST forms (and cookie-authenticated JSON calls).

The token is the session cookie's SHA-256 (truncated), signed with SESSION_SECRET by
itsdangerous: it is only valid with the session it was made for, expires with it, and cannot be
made without the secret. Requests with an API key (Authorization: Bearer) need none: a browser
never adds that header on its own.
"""

from __future__ import annotations

import hashlib
import secrets

from fastapi import HTTPException, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from backend.auth.web import SESSION_COOKIE, SESSION_MAX_AGE
from backend.config import Settings

SALT = "dashboard-form"
HEADER = "X-CSRF-Token"
REFUSED = "missing or invalid CSRF token: reload the page, or send its token in X-CSRF-Token"
FORM_EXPIRED = "This form expired or did not come from this dashboard."


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.session_secret, salt=SALT)


def _binding(request: Request) -> str:
    cookie = request.cookies.get(SESSION_COOKIE, "")
    return hashlib.sha256(cookie.encode()).hexdigest()[:32]


def token_for(request: Request, settings: Settings) -> str:
    return _serializer(settings).dumps(_binding(request))


def uses_api_key(request: Request) -> bool:
    return request.headers.get("authorization", "")[:7].lower() == "bearer "


def valid(request: Request, settings: Settings, token: str | None) -> bool:
    """True for an API-key request, or a cookie request carrying its session's token."""
    if uses_api_key(request):
        return True
    if not token or not request.cookies.get(SESSION_COOKIE):
        return False
    try:
        bound = _serializer(settings).loads(token, max_age=SESSION_MAX_AGE)
    except BadSignature:  # also expired
        return False
    return isinstance(bound, str) and secrets.compare_digest(bound, _binding(request))


def require_header(request: Request, settings: Settings) -> None:
    """403 unless a cookie-authenticated JSON call carries its page's token (API keys need none)."""
    if not valid(request, settings, request.headers.get(HEADER)):
        raise HTTPException(403, REFUSED)


def require_form(request: Request, settings: Settings, token: str | None) -> None:
    """400 unless a dashboard form carries its session's token."""
    if not valid(request, settings, token):
        raise HTTPException(400, FORM_EXPIRED)
