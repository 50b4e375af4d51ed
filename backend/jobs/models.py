"""Job runs and the claim that keeps two schedulers from running one job at once."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Integer, String, Text

from backend.db import Base, utcnow


class JobRun(Base):
    __tablename__ = "job_runs"

    id = Column(Integer, primary_key=True)
    job = Column(String(60), nullable=False, index=True)
    status = Column(
        String(20), nullable=False, default="running"
    )  # running | ok | failed | skipped
    counts = Column(JSON, nullable=False, default=dict)
    error = Column(Text)
    started_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    finished_at = Column(DateTime(timezone=True))


class JobLock(Base):
    __tablename__ = "job_locks"

    job = Column(String(60), primary_key=True)
    owner = Column(String(100))
    locked_until = Column(DateTime(timezone=True))
