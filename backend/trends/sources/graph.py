"""What Facebook and Instagram (both the Meta Graph API) share: error codes and paging.

The Graph API reports throttling as an error body (codes 4, 17, 32, 613, 80001–80014) with
HTTP 400/403, and tells how long to wait in `x-business-use-case-usage`
(`estimated_time_to_regain_access`, minutes); token problems are OAuth code 190 (or 102,
10, 200–299 for permissions).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import requests

from backend.integrations import IntegrationError
from backend.trends.sources.base import CredentialsRejected, RateLimited

THROTTLE_CODES = {4, 17, 32, 613}
AUTH_CODES = {102, 190, 10}
APP_THROTTLE_WAIT = timedelta(hours=1)  # platform limits roll over one hour


def _regain_minutes(headers) -> int:
    raw = headers.get("x-business-use-case-usage")
    if not raw:
        return 0
    try:
        usage = json.loads(raw)
    except ValueError:
        return 0
    minutes = [
        int(entry.get("estimated_time_to_regain_access") or 0)
        for entries in usage.values()
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    return max(minutes, default=0)


def graph_error_hook(platform: str):
    def hook(response: requests.Response, now: datetime) -> IntegrationError | None:
        if response.status_code < 400:
            return None
        try:
            error = (response.json() or {}).get("error") or {}
        except ValueError:
            return None
        code = int(error.get("code") or 0)
        if code in THROTTLE_CODES or 80000 <= code < 80100 or response.status_code == 429:
            minutes = _regain_minutes(response.headers)
            wait = timedelta(minutes=minutes) if minutes else APP_THROTTLE_WAIT
            return RateLimited(f"{platform}: rate limited (code {code})", retry_at=now + wait)
        if code in AUTH_CODES or 200 <= code < 300:
            return CredentialsRejected(f"{platform}: credentials rejected (code {code})")
        return None

    return hook


def parse_graph_time(value: str | None) -> datetime | None:
    """Graph times look like 2024-05-01T09:30:00+0000."""
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def next_cursor(body: dict) -> str | None:
    """The `after` cursor when there is a next page (paging.next present), else None."""
    paging = body.get("paging") or {}
    if not paging.get("next"):
        return None
    return (paging.get("cursors") or {}).get("after")
