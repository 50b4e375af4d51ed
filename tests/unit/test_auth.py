"""Staff accounts: password hashing, roles, API keys, duplicates (real migrated SQLite)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.auth import service
from backend.auth.models import AccessLog, ApiKey, StaffUser

PASSWORD = "correct horse battery"


def _staff(session, email="ana@shop.example", role="sales", password=PASSWORD):
    return service.create_staff(session, email=email, name="Ana", role=role, password=password)


def test_password_is_stored_only_as_argon2_hash(session):
    staff = _staff(session)
    assert staff.password_hash.startswith("$argon2id$")
    assert PASSWORD not in staff.password_hash


def test_authenticate_accepts_right_password_and_ignores_email_case(session):
    staff = _staff(session)
    assert service.authenticate(session, email="  ANA@Shop.Example ", password=PASSWORD) is staff


@pytest.mark.parametrize(
    "email, password",
    [
        ("ana@shop.example", "wrong password!"),
        ("nobody@shop.example", PASSWORD),
        ("ana@shop.example", ""),
    ],
)
def test_authenticate_refuses_wrong_credentials(session, email, password):
    _staff(session)
    assert service.authenticate(session, email=email, password=password) is None


def test_inactive_staff_cannot_log_in_and_loses_keys(session):
    staff = _staff(session)
    key = service.issue_api_key(session, staff_id=staff.id)
    service.deactivate_staff(session, email=staff.email)
    assert service.authenticate(session, email=staff.email, password=PASSWORD) is None
    assert service.resolve_api_key(session, key) is None
    assert session.execute(select(ApiKey.revoked_at)).scalar_one() is not None


def test_unknown_role_is_refused(session):
    with pytest.raises(service.AuthError, match="unknown role 'superuser'"):
        _staff(session, role="superuser")
    assert session.execute(select(StaffUser)).first() is None


def test_duplicate_email_is_refused_whatever_the_case(session):
    _staff(session)
    with pytest.raises(service.AuthError, match="already exists"):
        _staff(session, email="Ana@SHOP.example")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"email": "not-an-email"}, "not a valid email"),
        ({"password": "short"}, "at least 10 characters"),
    ],
)
def test_bad_input_is_refused(session, kwargs, message):
    with pytest.raises(service.AuthError, match=message):
        _staff(session, **kwargs)


def test_api_key_resolves_and_only_its_hash_is_stored(session):
    staff = _staff(session)
    key = service.issue_api_key(session, staff_id=staff.id)
    assert key.startswith("hts_")
    row = session.execute(select(ApiKey)).scalar_one()
    assert key.split("_")[1] == row.prefix and key not in row.key_hash and row.role == "sales"
    assert service.resolve_api_key(session, key) is staff


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"),  # wrong secret
        lambda k: "xyz" + k[3:],  # wrong scheme
        lambda k: "hts_00000000_" + k.split("_", 2)[2],  # unknown prefix
        lambda k: "",
    ],
)
def test_wrong_keys_do_not_resolve(session, mangle):
    staff = _staff(session)
    key = service.issue_api_key(session, staff_id=staff.id)
    assert service.resolve_api_key(session, mangle(key)) is None


def test_revoked_key_no_longer_resolves(session):
    staff = _staff(session)
    key = service.issue_api_key(session, staff_id=staff.id)
    service.revoke_api_key(session, prefix=key.split("_")[1])
    assert service.resolve_api_key(session, key) is None


def test_role_change_voids_existing_keys(session):
    staff = _staff(session, role="admin")
    key = service.issue_api_key(session, staff_id=staff.id)
    staff.role = "executive"
    assert service.resolve_api_key(session, key) is None


def test_ensure_admin_is_idempotent(session):
    first, created = service.ensure_admin(session, email="boss@shop.example", password=PASSWORD)
    again, created_again = service.ensure_admin(
        session, email="BOSS@shop.example", password="other password"
    )
    assert (created, created_again) == (True, False) and again is first and first.role == "admin"
    assert service.authenticate(session, email="boss@shop.example", password=PASSWORD) is first


def test_log_access_records_who_read_what(session):
    service.log_access(
        session, actor="ana@shop.example", role="sales", action="read_leads", resource="leads 1..3"
    )
    row = session.execute(select(AccessLog)).scalar_one()
    assert (row.actor, row.role, row.action, row.resource) == (
        "ana@shop.example",
        "sales",
        "read_leads",
        "leads 1..3",
    )
