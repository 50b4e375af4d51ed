"""HTTP routes of the catalog area."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
