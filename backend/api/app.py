"""The backend web app: shop page with the chat widget, admin API, dashboards, webhooks."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.api.security import (
    SecurityHeadersMiddleware,
    WebhookBodyLimitMiddleware,
    docs_router,
)
from backend.config import Settings, get_settings
from backend.db import get_session_factory, make_engine, make_session_factory
from backend.ratelimit import Limits

HERE = Path(__file__).resolve().parent


def create_app(
    settings: Settings | None = None,
    session_factory: sessionmaker | None = None,
    rate_limits: Limits | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    if session_factory is None:
        session_factory = (
            get_session_factory()
            if settings is get_settings()
            else make_session_factory(make_engine(settings.database_url))
        )
    # Docs and schema are served by backend.api.security (staff-only in production).
    app = FastAPI(
        title="Health Trend Seller",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.session_factory = session_factory
    app.add_middleware(WebhookBodyLimitMiddleware, max_bytes=settings.webhook_max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware, settings=settings)
    app.state.rate_limits = rate_limits or Limits.from_settings(settings)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    from backend import bootstrap
    from backend.api import public

    app.state.chat_feed = bootstrap.adapters(settings).chat_feed  # staff replies, pushed
    app.state.payments = bootstrap.adapters(settings).payments  # the reminder's fresh checkout

    app.include_router(public.router)
    app.include_router(docs_router)
    for router in bootstrap.routers():  # every area's routes, listed in backend/bootstrap.py
        app.include_router(router)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError):
        # 422 with a readable message; never echo the submitted values back.
        problems = [
            {"field": ".".join(str(p) for p in err["loc"] if p != "body"), "problem": err["msg"]}
            for err in exc.errors()
        ]
        return JSONResponse(
            status_code=422, content={"error": "invalid request", "problems": problems}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException):
        # One error shape for the whole API: {"error": "..."}.
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        return JSONResponse(
            status_code=exc.status_code, content={"error": message}, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception):
        import logging

        logging.getLogger("backend.api").error("unhandled error: %s", type(exc).__name__)
        return JSONResponse(status_code=500, content={"error": "internal error"})

    return app
