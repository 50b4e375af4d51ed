"""Health of each dependency: database, Rasa server, action server."""

from __future__ import annotations

import requests
from sqlalchemy.engine import Engine

from backend.config import Settings
from backend.db import DatabaseError, check_connection


def _http(url: str) -> dict:
    try:
        response = requests.get(url, timeout=1.5)
    except requests.RequestException as exc:
        return {"ok": False, "detail": f"unreachable ({type(exc).__name__})"}
    if response.status_code >= 400:
        return {"ok": False, "detail": f"HTTP {response.status_code}"}
    return {"ok": True, "detail": "up"}


def check_all(*, settings: Settings, engine: Engine) -> dict:
    try:
        check_connection(engine)
        database = {"ok": True, "detail": engine.dialect.name}
    except DatabaseError as exc:
        database = {"ok": False, "detail": str(exc)}
    checks = {
        "database": database,
        "rasa": _http(settings.rasa_url.rstrip("/") + "/"),
        "action_server": _http(settings.action_server_url.rstrip("/") + "/health"),
    }
    if not database["ok"]:
        status = "down"
    elif all(c["ok"] for c in checks.values()):
        status = "ok"
    else:
        status = "degraded"
    return {"status": status, "checks": checks}
