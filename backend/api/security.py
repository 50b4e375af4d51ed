"""Edge protections of the backend web app: security headers on every response, a body cap on
webhooks (413 before more is read), and the API docs behind a staff login in production."""

from __future__ import annotations

import json
import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.orm import Session

from backend.api.deps import session_dep, settings_dep
from backend.auth.web import current_staff
from backend.config import Settings

WEBHOOK_PREFIXES = ("/webhooks/",)
# Pages that a shop may let other sites frame (SHOP_FRAME_ANCESTORS); everything else: none.
EMBEDDABLE_PATHS = ("/",)
DOCS_CDN = "https://cdn.jsdelivr.net"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy(settings: Settings, *, embeddable: bool) -> str:
    """The shop page, widget, dashboards and sandbox page load only our own scripts and styles;
    the widget talks to this origin and to Rasa's, and shows product pictures from the shop's
    public address (catalog image_url)."""
    connect = " ".join(filter(None, ["'self'", origin_of(settings.rasa_url)]))
    images = " ".join(filter(None, ["'self'", "data:", origin_of(settings.public_base_url)]))
    ancestors = (settings.shop_frame_ancestors if embeddable else "") or "'none'"
    return (
        f"default-src 'self'; script-src 'self'; style-src 'self'; img-src {images}; "
        f"connect-src {connect}; form-action 'self'; frame-ancestors {ancestors}; "
        "base-uri 'none'; object-src 'none'"
    )


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response (a route may set its own CSP)."""

    def __init__(self, app, *, settings: Settings):
        self.app = app
        self.settings = settings
        self.common = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
        ]
        if settings.app_env == "production":
            self.common.append(
                (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
            )
        self.csp = {
            embeddable: content_security_policy(settings, embeddable=embeddable).encode()
            for embeddable in (False, True)
        }

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        embeddable = scope["path"] in EMBEDDABLE_PATHS and bool(self.settings.shop_frame_ancestors)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = list(self.common)
                extra.append((b"content-security-policy", self.csp[embeddable]))
                if not embeddable:
                    extra.append((b"x-frame-options", b"DENY"))
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body larger than {limit} bytes")


class WebhookBodyLimitMiddleware:
    """Caps webhook bodies: a declared length over the cap is refused before reading; an
    undeclared (chunked) body is counted as it streams and cut off at the cap."""

    def __init__(self, app, *, max_bytes: int, prefixes: tuple[str, ...] = WEBHOOK_PREFIXES):
        self.app = app
        self.max_bytes = max_bytes
        self.prefixes = prefixes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send) -> None:
        body = json.dumps({"error": f"request body larger than {self.max_bytes} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def docs_access(
    request: Request,
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
) -> None:
    """Open in development; in production any logged-in staff user (key or cookie)."""
    if settings.app_env == "production" and (
        current_staff(request, session=session, settings=settings) is None
    ):
        # A plain 401 (JSON), never the login redirect: API clients read the schema.
        raise HTTPException(
            status_code=401, detail="login required", headers={"WWW-Authenticate": "Bearer"}
        )


docs_router = APIRouter(include_in_schema=False)


@docs_router.get("/openapi.json", dependencies=[Depends(docs_access)])
def openapi_schema(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@docs_router.get("/api/docs", dependencies=[Depends(docs_access)])
def swagger_ui(request: Request) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    page = get_swagger_ui_html(openapi_url="/openapi.json", title=f"{request.app.title} API")
    html = page.body.decode().replace("<script>", f'<script nonce="{nonce}">')
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": (
                f"default-src 'none'; script-src 'nonce-{nonce}' {DOCS_CDN}; "
                f"style-src 'unsafe-inline' {DOCS_CDN}; img-src 'self' data: "
                "https://fastapi.tiangolo.com; connect-src 'self'; frame-ancestors 'none'; "
                "base-uri 'none'; form-action 'none'"
            )
        },
    )
