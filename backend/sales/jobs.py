"""Scheduled sales work: the SLA check (see backend/sales/sla.py)."""

from __future__ import annotations

from datetime import timedelta

from backend.jobs.registry import job
from backend.sales import sla

SLA_CHECK_EVERY = timedelta(minutes=1)  # the tightest SLA is 15 minutes (emergencies)


@job(
    "sla_check",
    every=lambda s: SLA_CHECK_EVERY,
    description="open an incident for each lead past its first-reply SLA",
)
def sla_check(session, settings) -> dict:
    return sla.check_sla(session)
