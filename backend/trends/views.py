"""HTTP routes of the trends area."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
