"""Scheduled jobs of the orders area (registered with @job)."""

from __future__ import annotations

from datetime import timedelta

from backend.jobs.registry import job
from backend.orders import service


@job(
    "orders_expire",
    every=lambda s: timedelta(minutes=1),
    description="expire unpaid orders whose payment link ran out and release their stock",
)
def orders_expire(session, settings) -> dict:
    return {"expired": service.expire_orders(session)}
