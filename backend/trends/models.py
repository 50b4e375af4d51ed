"""Aggregate trend signals and their matches to products (no personal data)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)

from backend.db import Base, utcnow


class Trend(Base):
    __tablename__ = "trends"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_trends_source_external"),)

    id = Column(Integer, primary_key=True)
    source = Column(String(20), nullable=False)  # x | facebook | instagram | linkedin | rss
    external_id = Column(String(200), nullable=False)
    topic = Column(String(300), nullable=False)
    keywords = Column(JSON, nullable=False, default=list)
    goals = Column(
        JSON, nullable=False, default=list, server_default="[]"
    )  # goal vocabulary it spoke
    volume = Column(Integer, nullable=False, default=0)
    snippet = Column(String(280))
    url = Column(String(1000))
    published_at = Column(DateTime(timezone=True))
    fetched_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)


class TrendPoint(Base):
    """One trend's score and volume at one ingest run, per goal it spoke to: the time series
    behind the Trends chart (trends themselves are upserted). Kept TREND_HISTORY_DAYS."""

    __tablename__ = "trend_history"

    id = Column(Integer, primary_key=True)
    run_at = Column(DateTime(timezone=True), nullable=False, index=True)
    source = Column(String(20), nullable=False)
    topic = Column(String(300), nullable=False)
    goal = Column(String(40), index=True)  # None: the trend matched products but no goal
    score = Column(Float, nullable=False)  # its best product match score in that run
    volume = Column(Integer, nullable=False, default=0)


class TrendMatch(Base):
    __tablename__ = "trend_matches"
    __table_args__ = (UniqueConstraint("trend_id", "product_id", name="uq_trend_matches_pair"),)

    id = Column(Integer, primary_key=True)
    trend_id = Column(
        Integer, ForeignKey("trends.id", ondelete="CASCADE"), nullable=False, index=True
    )
    product_id = Column(
        Integer, ForeignKey("products.id", ondelete="CASCADE"), nullable=False, index=True
    )
    score = Column(Float, nullable=False)
    confidence = Column(Float, nullable=False)
    explanation = Column(Text, nullable=False)
    low_stock = Column(Integer, nullable=False, default=0)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class SourceBudget(Base):
    """Platform quotas that outlive one run (e.g. Instagram's 30 hashtags per 7 days)."""

    __tablename__ = "source_budgets"
    __table_args__ = (UniqueConstraint("source", "key", name="uq_source_budget"),)

    id = Column(Integer, primary_key=True)
    source = Column(String(20), nullable=False)
    key = Column(String(200), nullable=False)
    used_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    # counted quotas (X post reads per month): units used under this key so far
    amount = Column(Integer, nullable=False, default=0, server_default="0")


class SourceState(Base):
    """Last outcome per trend source, and when it may be called again (after a 429)."""

    __tablename__ = "trend_source_states"

    source = Column(String(20), primary_key=True)
    status = Column(
        String(40), nullable=False
    )  # ok | not configured | credentials rejected | rate limited | failed
    detail = Column(String(300), nullable=False, default="")
    retry_at = Column(DateTime(timezone=True))  # skip the source until then
    failures = Column(Integer, nullable=False, default=0)  # consecutive temporary failures
    signals = Column(Integer, nullable=False, default=0)
    last_run_at = Column(DateTime(timezone=True))
    last_ok_at = Column(DateTime(timezone=True))
