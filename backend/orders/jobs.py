"""Scheduled jobs of the orders area (registered with @job)."""

from __future__ import annotations

from datetime import timedelta

from backend.jobs.registry import job
from backend.orders import audit, service


@job(
    "orders_expire",
    every=lambda s: timedelta(minutes=1),
    description="expire unpaid orders whose payment link ran out and release their stock",
)
def orders_expire(session, settings) -> dict:
    return {"expired": service.expire_orders(session)}


@job(
    "audit_verify",
    every=lambda s: timedelta(hours=24),
    description="re-render and re-hash every invoice, receipt, credit note and consent against "
    "the ledger; one incident per mismatch",
)
def audit_verify(session, settings) -> dict:
    """The counts the executive overview shows as "verified n/N" (re-hashing is too slow for a
    page view at 1M ledger entries, so the page reads the last run)."""
    report = audit.verify_all(session)
    opened = audit.open_incidents(session, report)
    counts: dict = {"ledger_entries": report.ledger_entries, "mismatches": len(report.mismatches)}
    for entity_type, n in report.verified.items():
        counts[f"verified.{entity_type}"] = n
    for m in report.mismatches:
        key = f"mismatched.{m.entity_type}"
        counts[key] = counts.get(key, 0) + 1
    counts["incidents_opened"] = opened
    return counts
