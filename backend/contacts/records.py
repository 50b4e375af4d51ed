"""Canonical records of contact data for the ledger (the audit re-hashes with these)."""

from __future__ import annotations

from datetime import datetime, timezone

from backend.contacts.models import ConsentEvent


def _iso(value: datetime | None) -> str | None:
    """UTC ISO text with microseconds; SQLite hands back naive datetimes, Postgres aware ones."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def consent_record(event: ConsentEvent) -> dict:
    """The consent fields the ledger hash covers; changing any of them breaks verification."""
    return {
        "id": event.id,
        "contact_id": event.contact_id,
        "purpose": event.purpose,
        "channel": event.channel,
        "granted": bool(event.granted),
        "wording": event.wording,
        "wording_version": event.wording_version,
        "source": event.source,
        "created_at": _iso(event.created_at),
    }
