"""Who is calling: API key (Authorization: Bearer) or signed session cookie; role checks; login.

Routers that use `require_role` should be built with `route_class=StaffRoute`, which turns a
missing login into 401 JSON (API) or a redirect to /login (pages), and a wrong role into 403.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from backend.api.deps import session_dep, settings_dep
from backend.auth import throttle
from backend.auth.models import ROLES, StaffUser
from backend.auth.service import (
    AuthBusy,
    authenticate,
    end_session,
    resolve_api_key,
    session_staff,
    start_session,
)
from backend.config import Settings
from backend.db import utcnow
from backend.logging_setup import log_event

log = logging.getLogger("backend.auth")
templates = Jinja2Templates(
    directory=str(Path(__file__).resolve().parent.parent / "api" / "templates")
)

SESSION_COOKIE = "hts_session"
LOGIN_CSRF_COOKIE = "hts_login_csrf"
SESSION_MAX_AGE = 12 * 3600
LOGIN_FORM_MAX_AGE = 3600


class LoginRequired(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=401, detail="login required")


class RoleForbidden(HTTPException):
    def __init__(self, message: str) -> None:
        super().__init__(status_code=403, detail=message)


def require_role(*roles: str, action: str = "do this"):
    """Dependency: the calling staff user, if their role is one of `roles`."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def dependency(
        request: Request,
        session: Session = Depends(session_dep),
        settings: Settings = Depends(settings_dep),
    ) -> StaffUser:
        staff = current_staff(request, session=session, settings=settings)
        if staff is None:
            raise LoginRequired()
        if staff.role not in roles:
            log_event(
                log,
                "access denied",
                logging.WARNING,
                staff_id=staff.id,
                role=staff.role,
                path=request.url.path,
            )
            raise RoleForbidden(f"your role ({staff.role}) cannot {action}")
        return staff

    return dependency


def current_staff(request: Request, *, session: Session, settings: Settings) -> StaffUser | None:
    """A bearer key wins over the cookie; a bad key is refused, never retried as a cookie."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return resolve_api_key(session, auth[7:].strip())
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    data = _session_data(settings, token)
    if data is None:
        return None
    # The server-side session must still be open: logout revokes it, whatever the cookie says.
    staff = session_staff(session, sid=data["sid"], staff_id=data["uid"])
    if staff is None or data.get("pv") != _password_version(staff):
        return None
    return staff


def _session_data(settings: Settings, token: str) -> dict | None:
    try:
        data = _serializer(settings, "staff-session").loads(token, max_age=SESSION_MAX_AGE)
    except BadSignature:  # also covers expired
        return None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("uid"), int)
        or not isinstance(data.get("sid"), str)
    ):
        return None
    return data


class StaffRoute(APIRoute):
    """Renders auth failures: JSON under /api/, a redirect or HTML page elsewhere."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                if _is_api(request):
                    return JSONResponse(
                        {"error": "login required"},
                        status_code=401,
                        headers={"WWW-Authenticate": "Bearer"},
                    )
                return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
            except RoleForbidden as exc:
                if _is_api(request):
                    return JSONResponse({"error": exc.detail}, status_code=403)
                return templates.TemplateResponse(
                    request,
                    "dashboard/forbidden.html",
                    {"settings": request.app.state.settings, "message": exc.detail},
                    status_code=403,
                )

        return guarded


router = APIRouter(route_class=StaffRoute)


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request, next: str = "/dashboard", settings: Settings = Depends(settings_dep)
):
    return _login_page(request, settings, next_path=next)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    email: str = Form(""),
    password: str = Form(""),
    csrf: str = Form(""),
    next: str = Form("/dashboard"),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    if not _login_csrf_ok(settings, csrf, request.cookies.get(LOGIN_CSRF_COOKIE)):
        return _login_page(
            request,
            settings,
            next_path=next,
            error="This form expired. Please try again.",
            status=400,
        )
    store = _throttle_store(request, session)
    policy = _throttle_policy(settings)
    keys = throttle.throttle_keys(email=email, client_ip=_client_ip(request))
    now = utcnow()
    # Checked before the password hash runs: a throttled flood costs no argon2 time.
    wait = throttle.retry_after(store=store, policy=policy, keys=keys, now=now)
    if wait:
        log_event(log, "staff login throttled", logging.WARNING, retry_after=wait)
        return _too_many(request, settings, next_path=next, wait=wait)
    try:
        staff = authenticate(session, email=email, password=password)
    except AuthBusy:
        return _too_many(request, settings, next_path=next, wait=5)
    if staff is None:
        throttle.record_failure(store=store, policy=policy, keys=keys, now=now)
        log_event(log, "staff login refused", logging.WARNING)
        return _login_page(
            request, settings, next_path=next, error="Wrong email or password.", status=401
        )
    throttle.record_success(store=store, keys=keys)
    log_event(log, "staff login", staff_id=staff.id, role=staff.role)
    response = RedirectResponse(_safe_next(next), status_code=303)
    sid = start_session(session, staff=staff, lifetime=timedelta(seconds=SESSION_MAX_AGE))
    token = _serializer(settings, "staff-session").dumps(
        {"uid": staff.id, "pv": _password_version(staff), "sid": sid}
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=_secure(settings),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(
    request: Request,
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    """End the session on the server too: a copy of the old cookie opens nothing afterwards."""
    # The session cookie is SameSite=Lax, so a cross-site form cannot log anyone out of anything.
    data = _session_data(settings, request.cookies.get(SESSION_COOKIE) or "")
    if data is not None and end_session(session, sid=data["sid"]):
        log_event(log, "staff logout", staff_id=data["uid"])
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=_secure(settings), httponly=True)
    return response


def _too_many(request: Request, settings: Settings, *, next_path: str, wait: int):
    response = _login_page(
        request,
        settings,
        next_path=next_path,
        error=f"Too many attempts. Please wait {wait} seconds and try again.",
        status=429,
    )
    response.headers["Retry-After"] = str(wait)
    return response


def _throttle_policy(settings: Settings) -> throttle.ThrottlePolicy:
    return throttle.ThrottlePolicy(
        account_limit=settings.login_max_failures_account,
        ip_limit=settings.login_max_failures_ip,
        window=timedelta(minutes=settings.login_window_minutes),
    )


def _throttle_store(request: Request, session: Session) -> throttle.ThrottleStore:
    """Redis when REDIS_URL is set (shared by every worker and instance), else the database."""
    settings: Settings = request.app.state.settings
    if not settings.redis_url:
        return throttle.DatabaseThrottleStore(session)
    client = getattr(request.app.state, "login_throttle_redis", None)
    if client is None:
        import redis

        client = redis.Redis.from_url(settings.redis_url, socket_timeout=2)
        request.app.state.login_throttle_redis = client
    return throttle.RedisThrottleStore(client)


def _client_ip(request: Request) -> str:
    # Behind a reverse proxy, run uvicorn with --proxy-headers so this is the real client.
    return request.client.host if request.client else ""


def _login_page(
    request: Request, settings: Settings, *, next_path: str, error: str = "", status: int = 200
):
    """The form carries a signed copy of a nonce that is also in a cookie (double submit)."""
    nonce = secrets.token_urlsafe(16)
    response = templates.TemplateResponse(
        request,
        "dashboard/login.html",
        {
            "settings": settings,
            "error": error,
            "next": _safe_next(next_path),
            "csrf": _serializer(settings, "login-csrf").dumps(nonce),
        },
        status_code=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        nonce,
        max_age=LOGIN_FORM_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=_secure(settings),
        path="/login",
    )
    return response


def _login_csrf_ok(settings: Settings, token: str, cookie: str | None) -> bool:
    if not token or not cookie:
        return False
    try:
        nonce = _serializer(settings, "login-csrf").loads(token, max_age=LOGIN_FORM_MAX_AGE)
    except BadSignature:
        return False
    return secrets.compare_digest(str(nonce), cookie)


def _serializer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.session_secret, salt=salt)


def _password_version(staff: StaffUser) -> str:
    """Changes with the password hash, so a new password ends every old session."""
    return hashlib.sha256(staff.password_hash.encode()).hexdigest()[:16]


def _safe_next(path: str) -> str:
    """Only same-site paths: never redirect to another host after login."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/dashboard"
    return path


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _secure(settings: Settings) -> bool:
    return settings.app_env == "production" or settings.public_base_url.startswith("https://")
