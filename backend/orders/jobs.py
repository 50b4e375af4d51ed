"""Scheduled jobs of the orders area (registered with @job)."""

from __future__ import annotations
