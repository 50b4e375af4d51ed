"""Who is calling: API key (Authorization: Bearer) or signed session cookie; role checks; login.

Routers that use `require_role` should be built with `route_class=StaffRoute`, which turns a
missing login into 401 JSON (API) or a redirect to /login (pages), and a wrong role into 403.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from backend.api.deps import session_dep, settings_dep
from backend.auth.models import ROLES, StaffUser
from backend.auth.service import authenticate, resolve_api_key
from backend.config import Settings
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
    try:
        data = _serializer(settings, "staff-session").loads(token, max_age=SESSION_MAX_AGE)
    except BadSignature:  # also covers expired
        return None
    staff = session.get(StaffUser, data.get("uid")) if isinstance(data, dict) else None
    if staff is None or not staff.active or data.get("pv") != _password_version(staff):
        return None
    return staff


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
    staff = authenticate(session, email=email, password=password)
    if staff is None:
        log_event(log, "staff login refused", logging.WARNING)
        return _login_page(
            request, settings, next_path=next, error="Wrong email or password.", status=401
        )
    log_event(log, "staff login", staff_id=staff.id, role=staff.role)
    response = RedirectResponse(_safe_next(next), status_code=303)
    token = _serializer(settings, "staff-session").dumps(
        {"uid": staff.id, "pv": _password_version(staff)}
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
def logout():
    # The session cookie is SameSite=Lax, so a cross-site form cannot log anyone out of anything.
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


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
    return settings.public_base_url.startswith("https://")
