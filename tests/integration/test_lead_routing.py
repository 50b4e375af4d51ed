"""Lead routing by goal and region (backend/sales/assignment.py): one test per rule, through the
real `create_lead` on a migrated database, asserting the stored assignment and its history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.auth import service as auth
from backend.auth.models import StaffUser
from backend.db import session_scope, utcnow
from backend.sales import assignment
from backend.sales import service as sales
from backend.sales.models import Lead, LeadActivity, StaffCoverage
from tests.integration.messaging_support import make_contact

UK_PHONE = "+447700900123"
US_PHONE = "+14155550123"
PW = "long-enough-pw"


def staff(session, name: str, *, goals=(), regions=(), active=True, role="sales") -> int:
    user = auth.create_staff(
        session, email=f"{name}@shop.example", name=name.title(), role=role, password=PW
    )
    session.flush()
    if goals or regions or not active:
        assignment.set_coverage(
            session, staff_id=user.id, goals=list(goals), regions=list(regions), active=active
        )
    return user.id


def new_lead(session, sender: str, *, goal=None, phone=US_PHONE, tz=None, kind="handoff"):
    make_contact(session, sender=sender, email=f"{sender}@c.example", phone=phone,
                 health_goal=goal, tz=tz)  # fmt: skip
    return sales.create_lead(session, sender_id=sender, kind=kind, reason="asked for a human")


def give_open_leads(session, staff_id: int, n: int) -> None:
    for i in range(n):
        session.add(Lead(kind="callback", reason="earlier", status="assigned", priority="normal",
                         assigned_to=staff_id, conversation_id=f"old-{staff_id}-{i}"))  # fmt: skip
    session.flush()


def decision(session, lead: Lead) -> LeadActivity:
    (row,) = session.execute(
        select(LeadActivity).where(
            LeadActivity.lead_id == lead.id, LeadActivity.action.in_(("routed", "queued"))
        )
    ).scalars()
    return row


def test_goal_match_assigns_to_the_user_covering_the_goal(session):
    diabetes = staff(session, "dora", goals=["diabetes"])
    staff(session, "wes", goals=["weight_loss"])
    lead = new_lead(session, "s1", goal="diabetes")
    assert (lead.status, lead.assigned_to) == ("assigned", diabetes)
    row = decision(session, lead)
    assert (row.action, row.actor_id, row.from_status, row.to_status) == (
        "routed", None, "new", "assigned",
    )  # fmt: skip
    assert row.detail["reason"] == "matched goal diabetes; 0 open leads, the only matching user"
    assert row.detail["to_staff_id"] == diabetes


def test_region_match_uses_the_phone_country(session):
    uk = staff(session, "gbus", regions=["GB"])
    staff(session, "usa", regions=["US"])
    lead = new_lead(session, "s1", phone=UK_PHONE)  # no health consent: no goal
    assert lead.assigned_to == uk
    detail = decision(session, lead).detail
    assert detail["region"] == "GB" and detail["goal"] is None
    assert detail["reason"].startswith("matched region GB;")


def test_region_from_the_time_zone_when_there_is_no_phone(session):
    berlin = staff(session, "bert", regions=["Europe/Berlin"])
    de = staff(session, "deutsch", regions=["DE"])
    give_open_leads(session, de, 1)
    lead = new_lead(session, "s1", phone=None, tz="Europe/Berlin")
    assert lead.assigned_to == berlin  # both match (zone, country of the zone); fewer open leads
    assert decision(session, lead).detail["region"] == "DE"


def test_both_goal_and_region_must_match_when_both_are_set(session):
    both = staff(session, "bo", goals=["blood_pressure"], regions=["GB"])
    lead_us = new_lead(session, "s1", goal="blood_pressure", phone=US_PHONE)
    assert (lead_us.status, lead_us.assigned_to) == ("new", None)  # goal alone is not enough
    lead_gb = new_lead(session, "s2", goal="blood_pressure", phone=UK_PHONE)
    assert lead_gb.assigned_to == both
    assert (
        decision(session, lead_gb)
        .detail["reason"]
        .startswith("matched goal blood_pressure and region GB;")
    )


def test_no_match_leaves_the_lead_in_the_shared_queue_with_the_reason(session):
    staff(session, "dora", goals=["diabetes"], regions=["GB"])
    staff(session, "nobody")  # no coverage at all: takes no routed leads
    lead = new_lead(session, "s1", goal="anti_aging", phone=US_PHONE)
    assert (lead.status, lead.assigned_to) == ("new", None)
    row = decision(session, lead)
    assert (row.action, row.to_status) == ("queued", "new")
    assert row.detail["reason"] == (
        "no active sales user covers goal anti_aging and region US: shared queue"
    )


def test_workload_fewest_open_leads_first(session):
    busy = staff(session, "busy", goals=["diabetes"])
    free = staff(session, "free", goals=["diabetes"])
    middle = staff(session, "middle", goals=["diabetes"])
    give_open_leads(session, busy, 3)
    give_open_leads(session, free, 1)
    give_open_leads(session, middle, 2)
    closed = Lead(kind="callback", reason="x", status="closed", assigned_to=free)
    session.add(closed)  # closed leads are not workload
    lead = new_lead(session, "s1", goal="diabetes")
    assert lead.assigned_to == free
    assert decision(session, lead).detail["reason"] == (
        "matched goal diabetes; 1 open lead, fewest among 3 matching users"
    )


def test_inactive_users_are_skipped(session):
    paused = staff(session, "paused", goals=["diabetes"], active=False)
    gone = staff(session, "gone", goals=["diabetes"])
    session.get(StaffUser, gone).active = False  # the login is disabled
    working = staff(session, "working", goals=["diabetes"])
    give_open_leads(session, working, 5)
    lead = new_lead(session, "s1", goal="diabetes")
    assert lead.assigned_to == working
    assert lead.assigned_to not in (paused, gone)
    assert decision(session, lead).detail["reason"].endswith("the only matching user")


def test_round_robin_on_a_tie_goes_to_the_least_recently_routed(session):
    ann = staff(session, "ann", regions=["US"])
    bob = staff(session, "bob", regions=["US"])
    session.get(StaffCoverage, ann).last_routed_at = utcnow() - timedelta(minutes=5)
    session.get(StaffCoverage, bob).last_routed_at = utcnow() - timedelta(minutes=10)
    first = new_lead(session, "s1")
    assert first.assigned_to == bob
    assert decision(session, first).detail["reason"] == (
        "matched region US; 0 open leads, fewest among 2 matching users "
        "(tie: least recently routed to)"
    )
    # bob now has one open lead: ann next; each closes theirs, so the tie returns: bob again
    second = new_lead(session, "s2")
    assert second.assigned_to == ann
    first.status = second.status = "closed"
    session.flush()
    assert new_lead(session, "s3").assigned_to == bob


def test_coverage_is_validated(session):
    sid = staff(session, "val")
    for goals, regions, message in (
        (["sleep"], [], "unknown goal 'sleep'"),
        ([], ["XX"], "not a known country code"),
        ([], ["Mars/Olympus"], "neither a two-letter country code"),
    ):
        with pytest.raises(assignment.CoverageError, match=message):
            assignment.set_coverage(session, staff_id=sid, goals=goals, regions=regions,
                                    active=True)  # fmt: skip
    exec_id = staff(session, "boss", role="executive")
    with pytest.raises(assignment.CoverageError, match="only sales and admin"):
        assignment.set_coverage(session, staff_id=exec_id, goals=[], regions=[], active=True)
    saved = assignment.set_coverage(
        session, staff_id=sid, goals=["diabetes"], regions=["gb", "Europe/London", "GB"],
        active=True,
    )  # fmt: skip
    assert saved.regions == ["GB", "Europe/London"]


def test_routing_works_on_postgres_too(pg_session_factory):
    with session_scope(pg_session_factory) as s:
        sid = staff(s, "pg", goals=["weight_loss"], regions=["GB"])
        lead = new_lead(s, "pg1", goal="weight_loss", phone=UK_PHONE)
        lead_id = lead.id
    with session_scope(pg_session_factory) as s:
        assert s.get(Lead, lead_id).assigned_to == sid
        assert s.get(StaffCoverage, sid).last_routed_at is not None


# --- set by an admin: the API and the dashboard form ------------------------------------------


@pytest.fixture
def client(db_url, session_factory):
    from fastapi.testclient import TestClient

    from backend.api.app import create_app
    from tests.integration.messaging_support import make_settings

    with TestClient(create_app(make_settings(db_url), session_factory),
                    base_url="https://testserver") as c:  # fmt: skip
        yield c


def _ids(session_factory) -> tuple[dict, dict]:
    from tests.integration.test_dashboard import make_keys

    keys = make_keys(session_factory)
    with session_scope(session_factory) as s:
        ids = {u.role: u.id for u in s.execute(select(StaffUser)).scalars()}
    return keys, ids


def test_only_admins_read_and_change_coverage_through_the_api(client, session_factory):
    from tests.integration.test_dashboard import bearer

    keys, ids = _ids(session_factory)
    path = f"/api/admin/staff/{ids['sales']}/coverage"
    body = {"goals": ["diabetes"], "regions": ["gb", "America/New_York"], "active": True}
    for role in ("sales", "compliance", "executive"):
        assert client.get(path, headers=bearer(keys[role])).status_code == 403
        assert client.put(path, json=body, headers=bearer(keys[role])).status_code == 403
    assert client.put(path, json=body).status_code == 401
    r = client.put(path, json=body, headers=bearer(keys["admin"]))
    assert r.status_code == 200
    assert (r.json()["goals"], r.json()["regions"], r.json()["active"]) == (
        ["diabetes"], ["GB", "America/New_York"], True,
    )  # fmt: skip
    got = client.get(path, headers=bearer(keys["admin"])).json()
    assert got["regions"] == ["GB", "America/New_York"] and got["open_leads"] == 0
    listed = client.get("/api/admin/staff/coverage", headers=bearer(keys["admin"])).json()
    assert {row["role"] for row in listed["staff"]} == {"admin", "sales"}
    with session_scope(session_factory) as s:
        assert s.get(StaffCoverage, ids["sales"]).goals == ["diabetes"]


def test_bad_coverage_is_a_clear_4xx_and_changes_nothing(client, session_factory):
    from tests.integration.test_dashboard import bearer

    keys, ids = _ids(session_factory)
    admin = bearer(keys["admin"])
    path = f"/api/admin/staff/{ids['sales']}/coverage"
    r = client.put(path, json={"goals": ["sleep"]}, headers=admin)
    assert r.status_code == 400 and "unknown goal 'sleep'" in r.json()["error"]
    r = client.put(path, json={"regions": ["Atlantis"]}, headers=admin)
    assert r.status_code == 400 and "time zone" in r.json()["error"]
    r = client.put(f"/api/admin/staff/{ids['executive']}/coverage", json={}, headers=admin)
    assert r.status_code == 400 and "only sales and admin" in r.json()["error"]
    assert client.put("/api/admin/staff/99999/coverage", json={}, headers=admin).status_code == 404
    assert client.get("/api/admin/staff/99999/coverage", headers=admin).status_code == 404
    assert client.put(path, json={"goals": "diabetes"}, headers=admin).status_code == 422
    with session_scope(session_factory) as s:
        assert s.execute(select(StaffCoverage)).first() is None


def test_coverage_routes_are_in_the_openapi_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/api/admin/staff/{staff_id}/coverage"]) == {"get", "put"}
    assert "get" in paths["/api/admin/staff/coverage"]


def test_admin_sets_coverage_on_the_team_page_with_csrf(client, session_factory):
    import re

    from tests.integration.test_dashboard import PASSWORD, login

    _, ids = _ids(session_factory)
    assert login(client, "sales@shop.example", PASSWORD).status_code == 303
    assert client.get("/dashboard/team", follow_redirects=False).status_code == 403
    client.cookies.clear()
    assert login(client, "admin@shop.example", PASSWORD).status_code == 303
    page = client.get("/dashboard/team")
    assert page.status_code == 200 and f'id="staff-{ids["sales"]}"' in page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    action = f"/dashboard/team/{ids['sales']}/coverage"
    form = {"goals": ["diabetes", "weight_loss"], "regions": "GB, Europe/Dublin", "active": "on"}
    r = client.post(action, data={**form, "csrf": "forged"})
    assert r.status_code == 400 and "nothing changed" in r.text
    r = client.post(action, data={**form, "regions": "Narnia", "csrf": token})
    assert r.status_code == 400 and "neither a two-letter country code" in r.text
    with session_scope(session_factory) as s:
        assert s.get(StaffCoverage, ids["sales"]) is None
    r = client.post(action, data={**form, "csrf": token}, follow_redirects=False)
    assert r.status_code == 303
    with session_scope(session_factory) as s:
        saved = s.get(StaffCoverage, ids["sales"])
        assert (saved.goals, saved.regions, saved.active) == (
            ["weight_loss", "diabetes"], ["GB", "Europe/Dublin"], True,
        )  # fmt: skip
    shown = client.get(r.headers["location"])
    assert "Coverage of staff user" in shown.text and 'value="GB, Europe/Dublin"' in shown.text
    # unticking "takes leads" keeps the coverage but takes the user out of routing
    client.post(action, data={"goals": ["diabetes"], "regions": "GB", "csrf": token})
    with session_scope(session_factory) as s:
        assert s.get(StaffCoverage, ids["sales"]).active is False


def test_simultaneous_leads_on_postgres_go_to_different_users(pg_session_factory):
    """Two leads routed at once with two equal users: the second routing waits for the first
    one's transaction (its coverage rows are locked) and then sees that lead, so each user gets
    one. Without the lock both would read 0 open leads and pick the same user."""
    import threading

    with session_scope(pg_session_factory) as s:
        ids = {staff(s, name, goals=["weight_loss"]) for name in ("ann", "bob")}
        for sender in ("first", "second"):
            make_contact(s, sender=sender, email=f"{sender}@c.example", phone=US_PHONE,
                         health_goal="weight_loss")  # fmt: skip
    first_routed, release = threading.Event(), threading.Event()
    chosen: dict[str, int] = {}
    errors: list[BaseException] = []

    def route(sender: str, hold: bool) -> None:
        try:
            with session_scope(pg_session_factory) as s:
                lead = sales.create_lead(s, sender_id=sender, kind="handoff", reason="human")
                chosen[sender] = lead.assigned_to
                if hold:  # keep the first transaction open while the second one routes
                    first_routed.set()
                    release.wait(10)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    first = threading.Thread(target=route, args=("first", True))
    first.start()
    assert first_routed.wait(10)
    second = threading.Thread(target=route, args=("second", False))
    second.start()
    second.join(0.5)  # the second routing is waiting for the first one's lock...
    assert second.is_alive()
    release.set()  # ...until the first commits
    first.join(10)
    second.join(10)
    assert not errors
    assert {chosen["first"], chosen["second"]} == ids
    with session_scope(pg_session_factory) as s:
        assert sorted(
            s.execute(select(Lead.assigned_to).where(Lead.status == "assigned")).scalars()
        ) == sorted(ids)
