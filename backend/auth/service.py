"""Staff accounts, passwords (argon2), API keys and the personal-data access log.

Services flush, never commit: the caller (web request, CLI command) owns the transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth.models import ROLES, AccessLog, ApiKey, StaffSession, StaffUser
from backend.db import aware, utcnow

KEY_PREFIX = "hts"
MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()
# Verified when the email is unknown, so a miss costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
# At most this many argon2 verifications at once per process (each takes ~50 ms of one core and
# 64 MiB): a burst of logins waits here instead of starving every other request.
VERIFY_SLOTS = threading.BoundedSemaphore(2)
VERIFY_WAIT_SECONDS = 10.0


class AuthError(ValueError):
    """A staff account request that cannot be done; the message says why."""


class AuthBusy(RuntimeError):
    """Too many password checks are running; the caller should try again shortly."""


def normalize_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AuthError(f"not a valid email address: {exc}") from None


def create_staff(session: Session, *, email: str, name: str, role: str, password: str) -> StaffUser:
    """Create an active staff user; only the argon2 hash of the password is stored."""
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if not name.strip():
        raise AuthError("name is required")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    email = normalize_email(email)
    if find_staff(session, email=email) is not None:
        raise AuthError("a staff user with this email already exists")
    staff = StaffUser(
        email=email, name=name.strip(), role=role, password_hash=_hasher.hash(password), active=True
    )
    session.add(staff)
    session.flush()
    return staff


def ensure_admin(session: Session, *, email: str, password: str) -> tuple[StaffUser, bool]:
    """The staff user with this email, created as admin when missing; (user, created)."""
    existing = find_staff(session, email=normalize_email(email))
    if existing is not None:
        return existing, False
    return create_staff(
        session, email=email, name="Administrator", role="admin", password=password
    ), True


def find_staff(session: Session, *, email: str) -> StaffUser | None:
    return session.execute(
        select(StaffUser).where(StaffUser.email == email.strip().lower())
    ).scalar_one_or_none()


def list_staff(session: Session) -> list[StaffUser]:
    return list(session.execute(select(StaffUser).order_by(StaffUser.email)).scalars())


def authenticate(session: Session, *, email: str, password: str) -> StaffUser | None:
    """The active staff user with this email and password, else None (same cost either way)."""
    staff = find_staff(session, email=email)
    if not VERIFY_SLOTS.acquire(timeout=VERIFY_WAIT_SECONDS):
        raise AuthBusy("too many logins at once")
    try:
        _hasher.verify(staff.password_hash if staff else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    finally:
        VERIFY_SLOTS.release()
    if staff is None or not staff.active:
        return None
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = _hasher.hash(password)
    return staff


def deactivate_staff(session: Session, *, email: str) -> StaffUser:
    """Refuse logins and revoke every API key of this user."""
    staff = find_staff(session, email=email)
    if staff is None:
        raise AuthError("no staff user with this email")
    staff.active = False
    for key in session.execute(
        select(ApiKey).where(ApiKey.staff_user_id == staff.id, ApiKey.revoked_at.is_(None))
    ).scalars():
        key.revoked_at = utcnow()
    session.flush()
    return staff


def issue_api_key(session: Session, *, staff_id: int) -> str:
    """Return a new key "hts_<prefix>_<secret>" once; only the prefix and its SHA-256 are kept."""
    staff = session.get(StaffUser, staff_id)
    if staff is None or not staff.active:
        raise AuthError("API keys can only be issued to an active staff user")
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    session.add(
        ApiKey(staff_user_id=staff.id, prefix=prefix, key_hash=_sha256(key), role=staff.role)
    )
    session.flush()
    return key


def resolve_api_key(session: Session, key: str) -> StaffUser | None:
    """The staff user behind a valid, unrevoked key; a role change since issue voids the key."""
    parts = (key or "").split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    row = session.execute(select(ApiKey).where(ApiKey.prefix == parts[1])).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, _sha256(key)):
        return None
    staff = session.get(StaffUser, row.staff_user_id)
    if staff is None or not staff.active or staff.role != row.role:
        return None
    return staff


def revoke_api_key(session: Session, *, prefix: str) -> ApiKey:
    row = session.execute(select(ApiKey).where(ApiKey.prefix == prefix)).scalar_one_or_none()
    if row is None:
        raise AuthError("no API key with this prefix")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return row


def start_session(session: Session, *, staff: StaffUser, lifetime: timedelta) -> str:
    """Open a server-side login session; returns its id (only its SHA-256 is stored)."""
    sid = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        StaffSession(
            token_hash=_sha256(sid),
            staff_user_id=staff.id,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    session.flush()
    return sid


def session_staff(session: Session, *, sid: str, staff_id: int) -> StaffUser | None:
    """The active staff user of an open, unexpired session `sid` belonging to `staff_id`."""
    row = session.execute(
        select(StaffSession).where(StaffSession.token_hash == _sha256(sid))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.staff_user_id != staff_id:
        return None
    if aware(row.expires_at) <= utcnow():
        return None
    staff = session.get(StaffUser, staff_id)
    return staff if staff is not None and staff.active else None


def end_session(session: Session, *, sid: str, now: datetime | None = None) -> bool:
    """Revoke a login session (logout); True when an open one was ended."""
    row = session.execute(
        select(StaffSession).where(StaffSession.token_hash == _sha256(sid))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now or utcnow()
    session.flush()
    return True


def log_access(session: Session, *, actor: str, role: str, action: str, resource: str) -> AccessLog:
    """Record one read of personal data (who, as which role, what, which records)."""
    entry = AccessLog(actor=actor, role=role, action=action[:40], resource=resource[:200])
    session.add(entry)
    session.flush()
    return entry


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
