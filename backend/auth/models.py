"""Staff users, API keys with roles, and the access log for personal-data reads."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String

from backend.db import Base, utcnow

ROLES = ("admin", "compliance", "sales", "executive")


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
