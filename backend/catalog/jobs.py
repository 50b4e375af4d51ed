"""Scheduled jobs of the catalog area (registered with @job)."""

from __future__ import annotations
