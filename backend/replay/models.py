"""One row per custom-action call of a chat turn: claimed while it runs, then its answer."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Integer, String

from backend.db import Base, utcnow


class ActionReplay(Base):
    __tablename__ = "action_replays"

    id = Column(Integer, primary_key=True)
    key = Column(String(64), nullable=False, unique=True)  # turn_key(): SHA-256 hex
    sender_id = Column(String(128), nullable=False, index=True)  # erasure finds rows by chat id
    action = Column(String(80), nullable=False)
    state = Column(String(10), nullable=False, default="running")  # running | done
    claim = Column(String(32), nullable=False)  # the attempt that may write the answer
    claimed_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    # the answer: may hold what the person typed (an email echoed back), so rows are deleted
    # after ACTION_REPLAY_KEEP_HOURS (job action_replay_retention) and on erasure
    events = Column(JSON)
    messages = Column(JSON)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)
