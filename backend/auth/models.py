"""Staff users, API keys with roles, and the access log for personal-data reads."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Index, Integer, String

from backend.db import Base, utcnow

# trainer: reviews real conversations and improves the NLU data (backend/training/)
ROLES = ("admin", "compliance", "sales", "executive", "trainer")


class StaffUser(Base):
    __tablename__ = "staff_users"

    id = Column(Integer, primary_key=True)
    email = Column(String(320), unique=True, nullable=False)
    name = Column(String(200), nullable=False)
    role = Column(String(20), nullable=False)
    password_hash = Column(String(200), nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id = Column(Integer, primary_key=True)
    staff_user_id = Column(Integer, ForeignKey("staff_users.id"), nullable=False, index=True)
    prefix = Column(String(12), unique=True, nullable=False)
    key_hash = Column(String(64), nullable=False)  # sha256 of the full key
    role = Column(String(20), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    revoked_at = Column(DateTime(timezone=True))


class AccessLog(Base):
    __tablename__ = "access_log"

    id = Column(Integer, primary_key=True)
    actor = Column(String(320), nullable=False)
    role = Column(String(20), nullable=False)
    action = Column(String(40), nullable=False)
    resource = Column(String(200), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class LoginFailure(Base):
    """One failed login, counted per account and per client address for throttling.

    `key` is a SHA-256 of the normalised email or of the client address: no personal data.
    """

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_scope_key_at", "scope", "key", "created_at"),)

    id = Column(Integer, primary_key=True)
    scope = Column(String(10), nullable=False)  # account | ip
    key = Column(String(64), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class StaffSession(Base):
    """A server-side login session: the signed cookie names it; logout revokes it."""

    __tablename__ = "staff_sessions"

    id = Column(Integer, primary_key=True)
    token_hash = Column(String(64), unique=True, nullable=False)  # sha256 of the cookie's sid
    staff_user_id = Column(Integer, ForeignKey("staff_users.id"), nullable=False, index=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    expires_at = Column(DateTime(timezone=True), nullable=False)
    revoked_at = Column(DateTime(timezone=True))
