"""Scheduled jobs of the trends area (registered with @job)."""

from __future__ import annotations
