"""Scheduled sales work: the SLA check (see backend/sales/sla.py)."""

from __future__ import annotations

from datetime import timedelta

from backend.jobs.registry import job
from backend.sales import sla

SLA_CHECK_EVERY = timedelta(minutes=1)  # the tightest SLA is 15 minutes (emergencies)


@job(
    "sla_check",
    every=lambda s: SLA_CHECK_EVERY,
    description="warn about leads near their first-reply SLA; an incident for each past it",
)
def sla_check(session, settings) -> dict:
    return sla.check_sla(session, warn_percent=settings.sla_warning_percent)
