"""Scheduled jobs of the catalog area (registered with @job)."""

from __future__ import annotations

from datetime import timedelta

from backend.catalog import service
from backend.jobs.registry import job


@job(
    "catalog_sync",
    every=lambda s: timedelta(minutes=s.catalog_sync_minutes),
    description="load CATALOG_URL (or the sample catalog) and record a new version if it changed",
)
def catalog_sync(session, settings) -> dict:
    before = service.latest_version(session)
    version = service.sync(session, settings=settings)
    new = before is None or before.id != version.id
    return {
        "version": version.id,
        "new_version": int(new),
        "products": len(version.snapshot),
        "added": version.added if new else 0,
        "changed": version.changed if new else 0,
        "removed": version.removed if new else 0,
    }
