"""Team alerts on the dashboard: channel status (configured or not) and the recent alerts.

Alerts hold no customer data, so admin, sales and compliance may read them; the settings'
values (webhook URLs are secrets) are never shown, only whether each channel is configured.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from backend.alerts import service
from backend.api.deps import session_dep, settings_dep
from backend.auth.models import StaffUser
from backend.auth.web import StaffRoute, require_role
from backend.config import Settings
from backend.dashboard.views import templates

router = APIRouter(route_class=StaffRoute)
readers = require_role("admin", "sales", "compliance", action="read team alerts")


def _state(session: Session, settings: Settings, limit: int) -> dict:
    return {
        "channels": service.channel_status(settings),
        "alerts": service.recent(session, limit=limit),
    }


@router.get("/dashboard/alerts")
def alerts_page(
    request: Request,
    staff: StaffUser = Depends(readers),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    return templates.TemplateResponse(
        request,
        "dashboard/alerts.html",
        {"settings": settings, "staff": staff, **_state(session, settings, 100)},
    )


@router.get("/api/admin/alerts")
def alerts_api(
    limit: int = Query(50, ge=1, le=500),
    _staff: StaffUser = Depends(readers),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
) -> dict:
    """Which alert channels are configured, and the latest alerts with their delivery status."""
    return _state(session, settings, limit)
