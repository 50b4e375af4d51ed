"""Trend sources: one adapter interface (`TrendSource`) and a client per platform."""

from backend.trends.sources.base import (
    CredentialsRejected,
    FakeSource,
    RateLimited,
    RawSignal,
    TrendSource,
)

__all__ = ["CredentialsRejected", "FakeSource", "RateLimited", "RawSignal", "TrendSource"]
