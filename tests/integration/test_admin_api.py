"""The admin API for what admins do: trends, catalog, orders, contacts, CRM and outbox.

Data comes from the product's own flows: the catalog sync and trend ingest jobs (run through
the API, sample catalog and RSS feeds), orders placed and paid through the orders service,
contacts entered through the API, outbox rows from the CRM push and a failing deliverer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api.app import create_app
from backend.auth.models import AccessLog
from backend.catalog.models import CatalogVersion
from backend.config import load_settings
from backend.contacts.models import ConsentEvent, Contact
from backend.db import session_scope
from backend.jobs.models import JobRun
from backend.ledger import LedgerEntry
from backend.orders.models import CreditNote, Receipt
from backend.outbox.models import OutboxMessage
from backend.trends.models import Trend, TrendMatch
from tests.integration.orders_support import pay, place
from tests.integration.test_dashboard import PASSWORD, bearer, login, make_keys
from tests.integration.test_outbox import add, deliver, deliverer  # noqa: F401 - a fixture

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("admin", "compliance", "executive", "sales")
# (method, path, JSON body, roles allowed): every new route and who may call it.
ROUTES = [
    ("get", "/api/admin/trends", None, ROLES),
    ("post", "/api/admin/trends/ingest", None, ("admin",)),
    ("post", "/api/admin/trends/match", {"text": "berberine"}, ROLES),
    ("get", "/api/admin/catalog", None, ("admin", "executive", "sales")),
    ("post", "/api/admin/catalog/sync", None, ("admin",)),
    ("get", "/api/admin/orders", None, ("admin", "compliance", "sales")),
    ("get", "/api/admin/orders/1", None, ("admin", "compliance", "sales")),
    ("post", "/api/admin/orders/1/refund", {"reason": "damaged"}, ("admin",)),
    (
        "post",
        "/api/admin/contacts",
        {"email": "walk.in@customer.example", "consent_source": "phone call"},
        ("admin", "sales"),
    ),
    ("get", "/api/admin/contacts/1/export", None, ("admin", "compliance")),
    ("post", "/api/admin/contacts/1/erase", None, ("admin", "compliance")),
    ("post", "/api/admin/crm/lead", {"contact_id": 1}, ("admin", "sales")),
    ("get", "/api/admin/outbox", None, ("admin", "compliance")),
    ("post", "/api/admin/outbox/1/retry", None, ("admin",)),
]
PAGES = [
    ("/dashboard/catalog", ("admin", "executive", "sales")),
    ("/dashboard/orders", ("admin", "compliance", "sales")),
    ("/dashboard/outbox", ("admin", "compliance")),
]


@pytest.fixture
def catalog_file(tmp_path) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text((ROOT / "backend" / "sample_data" / "catalog.json").read_text())
    return path


@pytest.fixture
def settings(db_url, catalog_file):
    return load_settings(
        {"DATABASE_URL": db_url, "TAX_RATE_PERCENT": "0", "CATALOG_URL": str(catalog_file)},
        dotenv=False,
    )


@pytest.fixture
def client(settings, session_factory):
    with TestClient(create_app(settings, session_factory)) as c:
        yield c


@pytest.fixture
def keys(session_factory):
    return make_keys(session_factory)


def rows(factory, model) -> list:
    with session_scope(factory) as s:
        return list(s.execute(select(model).order_by(model.id)).scalars())


def ledger_entries(factory, entity_type: str) -> list:
    with session_scope(factory) as s:
        return list(
            s.execute(select(LedgerEntry).where(LedgerEntry.entity_type == entity_type)).scalars()
        )


def logged(factory) -> list[tuple[str, str, str]]:
    return [(a.role, a.action, a.resource) for a in rows(factory, AccessLog)]


def sync_and_ingest(client, admin) -> None:
    for path in ("/api/admin/catalog/sync", "/api/admin/trends/ingest"):
        response = client.post(path, headers=admin)
        assert response.status_code == 200, response.text
        assert response.json()["run"]["status"] == "ok"


# --- who may call what -------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "body", "allowed"), ROUTES)
def test_each_route_refuses_other_roles_and_anonymous(
    client, keys, session_factory, method, path, body, allowed
):
    kwargs = {"json": body} if body is not None else {}
    assert getattr(client, method)(path, **kwargs).status_code == 401
    for role in set(ROLES) - set(allowed):
        response = getattr(client, method)(path, headers=bearer(keys[role]), **kwargs)
        assert response.status_code == 403, (role, path)
        assert response.json()["error"].startswith(f"your role ({role}) cannot")
    assert rows(session_factory, AccessLog) == [] and rows(session_factory, JobRun) == []
    assert rows(session_factory, Contact) == []


@pytest.mark.parametrize(("method", "path", "body", "allowed"), ROUTES)
def test_each_allowed_role_gets_an_answer_not_a_refusal(client, keys, method, path, body, allowed):
    for role in allowed:
        kwargs = {"json": body} if body is not None else {}
        response = getattr(client, method)(path, headers=bearer(keys[role]), **kwargs)
        assert response.status_code not in (401, 403, 500), (role, path, response.text)
        assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(("path", "allowed"), PAGES)
def test_pages_by_role(client, keys, path, allowed):
    for role in ROLES:
        response = client.get(path, headers=bearer(keys[role]))
        assert response.status_code == (200 if role in allowed else 403), (role, path)
    assert client.get(path, follow_redirects=False).status_code == 303  # to the login


def test_every_new_route_is_in_the_schema_with_a_response_model(client):
    paths = client.get("/openapi.json").json()["paths"]
    for method, path, _, _ in ROUTES:
        template = re.sub(r"/1(/|$)", lambda m: "/{id}" + m.group(1), path)
        (found,) = [p for p in paths if re.sub(r"\{[a-z_]+\}", "{id}", p) == template]
        operation = paths[found][method]
        ok = operation["responses"]["200" if path[-9:] != "/contacts" else "201"]
        assert ok["content"]["application/json"]["schema"], path
        assert "403" in operation["responses"], path


def test_cookie_sessions_must_send_the_csrf_token(client, keys, session_factory):
    assert login(client, "admin@shop.example", PASSWORD).status_code == 303
    for method, path, body, _ in ROUTES:
        if method == "post" and path != "/api/admin/trends/match":
            response = client.post(path, json=body)
            assert response.status_code == 403, path
            assert "CSRF" in response.json()["error"]
    assert rows(session_factory, JobRun) == [] and rows(session_factory, Contact) == []
    page = client.get("/dashboard/outbox")
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/dashboard/catalog").text)
    assert page.status_code == 200 and token
    response = client.post("/api/admin/catalog/sync", headers={"X-CSRF-Token": token.group(1)})
    assert response.status_code == 200 and response.json()["run"]["job"] == "catalog_sync"


# --- trends and catalog ------------------------------------------------------------------------
def test_sync_and_ingest_run_the_jobs_with_their_job_runs_rows(client, keys, session_factory):
    admin = bearer(keys["admin"])
    sync_and_ingest(client, admin)
    runs = rows(session_factory, JobRun)
    assert [(r.job, r.status) for r in runs] == [("catalog_sync", "ok"), ("trend_ingest", "ok")]
    assert runs[0].counts["products"] == 39 and runs[1].counts["trends"] > 0
    assert len(rows(session_factory, CatalogVersion)) == 1
    assert logged(session_factory) == [
        ("admin", "run_job", "job catalog_sync"),
        ("admin", "run_job", "job trend_ingest"),
    ]

    trends = client.get("/api/admin/trends?days=7", headers=bearer(keys["sales"])).json()
    assert trends["trends"] and trends["trends"][0]["products"]
    assert trends["history"]["runs"] and trends["history"]["goals"]
    assert {s["source"] for s in trends["sources"]} >= {"rss"}
    rss = [s for s in trends["sources"] if s["source"] == "rss"][0]
    assert rss["status"] == "ok"


def test_match_scores_text_and_stored_topics(client, keys, session_factory):
    sync_and_ingest(client, bearer(keys["admin"]))
    executive = bearer(keys["executive"])
    text = client.post(
        "/api/admin/trends/match",
        json={"text": "Everyone is talking about berberine for blood sugar", "limit": 3},
        headers=executive,
    )
    assert text.status_code == 200
    body = text.json()
    assert body["scored_as"] == "text as a fresh trend" and 1 <= len(body["products"]) <= 3
    best = body["products"][0]
    assert "berberine" in best["explanation"] or "blood sugar" in best["explanation"]
    assert best["score"] == max(p["score"] for p in body["products"])

    topic = rows(session_factory, Trend)[0].topic
    stored = client.post("/api/admin/trends/match", json={"topic": topic}, headers=executive)
    assert stored.status_code == 200 and stored.json()["scored_as"] == "stored trend"

    for bad, status in (
        ({}, 400),
        ({"text": "a", "topic": "b"}, 400),
        ({"topic": "no such topic anywhere"}, 404),
        ({"text": "x" * 1001}, 422),
        ({"text": "berberine", "limit": 0}, 422),
    ):
        response = client.post("/api/admin/trends/match", json=bad, headers=executive)
        assert response.status_code == status and response.json()["error"], bad


def test_inventory_shows_low_stock_and_missed_demand(client, keys, session_factory, catalog_file):
    admin = bearer(keys["admin"])
    sync_and_ingest(client, admin)
    with session_scope(session_factory) as s:
        trending = s.execute(
            select(TrendMatch.product_id).order_by(TrendMatch.score.desc()).limit(1)
        ).scalar_one()
        from backend.catalog.models import Product

        sku = s.get(Product, trending).sku
    # The shop sells out of the trending product and runs low on another: a new catalog file.
    products = json.loads(catalog_file.read_text())
    low = next(p for p in products if p["sku"] != sku)
    for p in products:
        p["stock"] = 0 if p["sku"] == sku else 3 if p is low else p["stock"]
    catalog_file.write_text(json.dumps(products))
    assert (
        client.post("/api/admin/catalog/sync", headers=admin).json()["run"]["counts"]["new_version"]
        == 1
    )

    data = client.get("/api/admin/catalog", headers=bearer(keys["sales"])).json()
    by_sku = {p["sku"]: p for p in data["products"]}
    assert by_sku[sku]["stock_status"] == "out_of_stock" and by_sku[sku]["missed_demand"]
    assert by_sku[sku]["trending"] >= 1
    assert by_sku[low["sku"]]["stock_status"] == "low_stock"
    assert not by_sku[low["sku"]]["missed_demand"]
    missed = [p["sku"] for p in data["products"] if p["missed_demand"]]
    assert sku in missed and data["totals"]["missed_demand"] == len(missed)
    assert data["totals"]["low_stock"] >= 1
    statuses = [p["stock_status"] for p in data["products"]]
    assert statuses == sorted(statuses, key=lambda s: s != "out_of_stock")  # out of stock first

    page = client.get("/dashboard/catalog", headers=admin).text
    assert re.search(rf'<tr id="sku-{sku}" class="missed">', page)
    assert 'id="sync-catalog"' in page and "Sync catalog now" in page
    sales_page = client.get("/dashboard/catalog", headers=bearer(keys["sales"])).text
    assert "Sync catalog now" not in sales_page  # the job buttons are for admins


# --- orders ------------------------------------------------------------------------------------
@pytest.fixture
def paid(client, keys, settings, session_factory):
    """Two orders from the orders service: one paid (with its receipt), one still unpaid."""
    sync_and_ingest(client, bearer(keys["admin"]))
    paid = place(session_factory, settings, items=(("WL-001", 2),), conversation_id="chat-1")
    pay(session_factory, settings, paid.public_id)
    open_ = place(session_factory, settings, items=(("WL-001", 1),), conversation_id="chat-2")
    with session_scope(session_factory) as s:
        from backend.orders.models import Order

        ids = {o.public_id: o.id for o in s.execute(select(Order)).scalars()}
    return ids[paid.public_id], ids[open_.public_id]


def test_orders_list_filters_pages_and_verifies_receipts(client, keys, session_factory, paid):
    paid_id, open_id = paid
    compliance = bearer(keys["compliance"])
    listed = client.get("/api/admin/orders", headers=compliance).json()
    assert listed["total"] == 2 and [o["id"] for o in listed["orders"]] == [open_id, paid_id]
    assert listed["by_status"]["paid"] == 1 and listed["by_status"]["pending_payment"] == 1
    done = listed["orders"][1]
    assert done["receipt_verified"] is True and done["receipt_url"].endswith("/receipt.pdf")
    assert listed["orders"][0]["receipt_verified"] is None
    assert "email" not in json.dumps(listed)  # no customer details in the list

    only_paid = client.get("/api/admin/orders?status=paid", headers=compliance).json()
    assert [o["id"] for o in only_paid["orders"]] == [paid_id]
    second = client.get("/api/admin/orders?limit=1&offset=1", headers=compliance).json()
    assert [o["id"] for o in second["orders"]] == [paid_id] and second["total"] == 2

    detail = client.get(f"/api/admin/orders/{paid_id}", headers=compliance).json()
    assert detail["receipt_verified"] is True and detail["invoice_number"].startswith("INV-")
    assert [(i["sku"], i["quantity"]) for i in detail["items"]] == [("WL-001", 2)]
    assert [p["status"] for p in detail["payments"]] == ["succeeded"]

    with session_scope(session_factory) as s:  # someone edits the stored receipt
        receipt = s.execute(select(Receipt)).scalar_one()
        receipt.pdf = receipt.pdf.replace(b"Receipt", b"Recelpt", 1)
    tampered = client.get(f"/api/admin/orders/{paid_id}", headers=compliance).json()
    assert tampered["receipt_verified"] is False
    page = client.get("/dashboard/orders", headers=compliance).text
    assert re.search(rf'<tr id="order-{paid_id}">.*?NOT verified', page, re.S)

    for bad in ("status=lost", "limit=0", "limit=101", "offset=-1", "offset=99999999999"):
        assert client.get(f"/api/admin/orders?{bad}", headers=compliance).status_code == 422
    assert client.get("/api/admin/orders/999", headers=compliance).status_code == 404
    assert client.get("/api/admin/orders/2147483648", headers=compliance).status_code == 422
    assert ("compliance", "read_order", f"order {paid_id}") in logged(session_factory)


def test_refund_is_capped_at_what_was_paid(client, keys, session_factory, paid):
    paid_id, open_id = paid
    admin = bearer(keys["admin"])
    detail = client.get(f"/api/admin/orders/{paid_id}", headers=admin).json()
    total = detail["total_minor"]

    too_much = client.post(
        f"/api/admin/orders/{paid_id}/refund",
        json={"amount_minor": total + 1, "reason": "damaged in transit"},
        headers=admin,
    )
    assert too_much.status_code == 400 and str(total) in too_much.json()["error"]
    part = client.post(
        f"/api/admin/orders/{paid_id}/refund",
        json={"amount_minor": 1000, "reason": "one item damaged"},
        headers=admin,
    )
    assert part.status_code == 200, part.text
    assert part.json()["order_status"] == "partially_refunded"
    rest = client.post(
        f"/api/admin/orders/{paid_id}/refund",
        json={"reason": "customer returned it"},
        headers=admin,
    )
    assert rest.json()["amount_minor"] == total - 1000 and rest.json()["order_status"] == "refunded"
    notes = rows(session_factory, CreditNote)
    assert [n.amount_minor for n in notes] == [1000, total - 1000]
    assert len(ledger_entries(session_factory, "credit_note")) == 2

    again = client.post(
        f"/api/admin/orders/{paid_id}/refund", json={"reason": "again"}, headers=admin
    )
    assert again.status_code == 409
    unpaid = client.post(
        f"/api/admin/orders/{open_id}/refund", json={"reason": "not paid"}, headers=admin
    )
    assert unpaid.status_code == 409 and "nothing to refund" in unpaid.json()["error"]
    for body in ({"reason": ""}, {"amount_minor": 0, "reason": "x y z"}, {}):
        response = client.post(f"/api/admin/orders/{paid_id}/refund", json=body, headers=admin)
        assert response.status_code == 422
    assert (
        client.post(
            "/api/admin/orders/999/refund", json={"reason": "nothing"}, headers=admin
        ).status_code
        == 404
    )
    assert len(rows(session_factory, CreditNote)) == 2


# --- contacts and CRM --------------------------------------------------------------------------
def test_staff_entered_contact_consent_crm_export_erase(client, keys, session_factory):
    sales = bearer(keys["sales"])
    entered = client.post(
        "/api/admin/contacts",
        json={
            "name": "Walk In",
            "email": "Walk.In@Customer.example",
            "phone": "+1 415 555 0100",
            "consent_source": "phone call",
            "marketing_channels": ["sms"],
        },
        headers=sales,
    )
    assert entered.status_code == 201, entered.text
    body = entered.json()
    assert body["created"] is True and len(body["consent_events"]) == 2
    (contact,) = rows(session_factory, Contact)
    assert (contact.email, contact.phone_e164) == ("Walk.In@customer.example", "+14155550100")
    events = rows(session_factory, ConsentEvent)
    assert [(e.purpose, e.channel, e.granted, e.source) for e in events] == [
        ("privacy", "chat", True, "staff"),
        ("marketing", "sms", True, "staff"),
    ]
    assert all("Consent given by phone call; recorded by staff user #" in e.wording for e in events)
    # auditable: each decision is in the ledger
    assert len(ledger_entries(session_factory, "consent")) == 2
    # The CRM heard of it through the outbox (the ConsentRecorded handler).
    crm_rows = [m for m in rows(session_factory, OutboxMessage) if m.kind == "crm"]
    assert crm_rows and crm_rows[-1].payload["fields"]["email"] == "Walk.In@customer.example"

    again = client.post(
        "/api/admin/contacts",
        json={"email": "walk.in@customer.example", "consent_source": "shop visit"},
        headers=sales,
    ).json()
    assert again["created"] is False and again["consent_events"] == []  # one person, one record

    pushed = client.post("/api/admin/crm/lead", json={"contact_id": body["id"]}, headers=sales)
    assert pushed.status_code == 200
    assert pushed.json()["queued"] is False  # the CRM already has this view
    assert pushed.json()["message"]["kind"] == "crm"

    compliance = bearer(keys["compliance"])
    export = client.get(f"/api/admin/contacts/{body['id']}/export", headers=compliance)
    assert export.status_code == 200 and "Walk.In@customer.example" in export.text
    erased = client.post(f"/api/admin/contacts/{body['id']}/erase", headers=compliance)
    assert erased.status_code == 200 and erased.json()["records"] == 1
    (contact,) = rows(session_factory, Contact)
    assert contact.erased_at is not None and contact.email is None
    gone = client.post("/api/admin/crm/lead", json={"contact_id": body["id"]}, headers=sales)
    assert gone.status_code == 409
    actions = [a for _, a, _ in logged(session_factory)]
    assert actions == [
        "enter_contact", "enter_contact", "push_crm", "export_contact", "erase_contact",
    ]  # fmt: skip


def test_staff_entered_email_marketing_waits_for_the_persons_own_confirmation(
    client, keys, session_factory
):
    def enter(source: str, channels: list[str]):
        return client.post(
            "/api/admin/contacts",
            json={
                "email": "shop.visitor@customer.example",
                "consent_source": source,
                "marketing_channels": channels,
            },
            headers=bearer(keys["sales"]),
        )

    entered = enter("shop visit", ["email", "sms"])
    assert entered.status_code == 201, entered.text
    assert entered.json()["email_opt_in_sent"] is True
    granted = {(e.purpose, e.channel) for e in rows(session_factory, ConsentEvent) if e.granted}
    assert ("marketing", "email") not in granted  # staff cannot sign the address up
    assert ("marketing", "sms") in granted
    (link,) = [m for m in rows(session_factory, OutboxMessage) if m.purpose == "verification"]
    assert (link.kind, link.payload["template"]) == ("email", "confirm_subscription")
    token = link.payload["context"]["confirm_url"].rsplit("/", 1)[1]
    # asked again before the person clicks: still one open link, nothing granted
    again = enter("phone call", ["email"])
    assert again.json()["email_opt_in_sent"] is True
    assert (
        len([m for m in rows(session_factory, OutboxMessage) if m.purpose == "verification"]) == 1
    )
    # the person follows the link: now the consent is recorded, as theirs
    assert client.post(f"/confirm-subscription/{token}").status_code == 200
    emails = [
        e
        for e in rows(session_factory, ConsentEvent)
        if (e.purpose, e.channel) == ("marketing", "email")
    ]
    assert [(e.granted, e.source) for e in emails] == [(True, "double_opt_in")]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"email": "not-an-email", "consent_source": "phone call"}, 400, "email"),
        ({"phone": "12", "consent_source": "phone call"}, 400, "too short"),
        ({"name": "No Reach", "consent_source": "phone call"}, 400, "email or a phone"),
        ({"email": "a@shop.example"}, 422, "consent_source"),
        ({"email": "a@shop.example", "consent_source": "x"}, 422, "consent_source"),
        (
            {"email": "a@shop.example", "consent_source": "call", "marketing_channels": ["fax"]},
            400,
            "marketing channels",
        ),
        ({"email": "a" * 401, "consent_source": "phone call"}, 422, "email"),
        (
            {"name": "http://spam.example", "email": "a@shop.example", "consent_source": "call"},
            400,
            "not a name",
        ),
    ],
)
def test_bad_contact_input_is_refused_and_stores_nothing(
    client, keys, session_factory, body, status, says
):
    response = client.post("/api/admin/contacts", json=body, headers=bearer(keys["admin"]))
    assert response.status_code == status
    assert says in json.dumps(response.json())
    assert rows(session_factory, Contact) == [] and rows(session_factory, ConsentEvent) == []


def test_unknown_contacts_are_404(client, keys):
    admin = bearer(keys["admin"])
    assert client.get("/api/admin/contacts/77/export", headers=admin).status_code == 404
    assert client.post("/api/admin/contacts/77/erase", headers=admin).status_code == 404
    assert (
        client.post("/api/admin/crm/lead", json={"contact_id": 77}, headers=admin).status_code
        == 404
    )
    assert (
        client.post("/api/admin/crm/lead", json={"contact_id": 0}, headers=admin).status_code == 422
    )


# --- outbox ------------------------------------------------------------------------------------
def test_outbox_by_kind_error_without_personal_data_and_retry(
    client,
    keys,
    settings,
    session_factory,
    deliverer,  # noqa: F811 - the fixture
):
    dead = add(session_factory, "leaky", "ok")
    waiting = add(session_factory, "temporary", "ok")
    deliver(session_factory, settings)

    data = client.get("/api/admin/outbox", headers=bearer(keys["compliance"])).json()
    (test_kind,) = [k for k in data["by_kind"] if k["kind"] == "test"]
    assert (test_kind["dead"], test_kind["pending"]) == (1, 1)
    shown = {m["id"]: m for m in data["messages"]}
    assert shown[dead]["status"] == "dead" and shown[waiting]["status"] == "pending"
    assert "jane.doe" not in json.dumps(data) and "example.org" not in json.dumps(data)
    assert shown[dead]["last_error"].startswith("IntegrationError: provider: 400 address <email>")
    assert "recipient" not in shown[dead] and "payload" not in shown[dead]
    only_dead = client.get("/api/admin/outbox?status=dead", headers=bearer(keys["admin"])).json()
    assert [m["id"] for m in only_dead["messages"]] == [dead]

    admin = bearer(keys["admin"])
    assert client.post(f"/api/admin/outbox/{waiting}/retry", headers=admin).status_code == 409
    assert client.post("/api/admin/outbox/999/retry", headers=admin).status_code == 404
    retried = client.post(f"/api/admin/outbox/{dead}/retry", headers=admin)
    assert retried.status_code == 200 and retried.json()["message"]["status"] == "pending"
    assert retried.json()["message"]["attempts"] == 0
    for bad in ("status=gone", "kind=Bad-Kind", "limit=501"):
        assert client.get(f"/api/admin/outbox?{bad}", headers=admin).status_code == 422


def test_outbox_page_retry_button_for_admins_only(
    client,
    keys,
    settings,
    session_factory,
    deliverer,  # noqa: F811 - the fixture
):
    dead = add(session_factory, "permanent")
    deliver(session_factory, settings)
    compliance_page = client.get("/dashboard/outbox", headers=bearer(keys["compliance"])).text
    assert f'id="message-{dead}"' in compliance_page and "Retry" not in compliance_page

    assert login(client, "admin@shop.example", PASSWORD).status_code == 303
    page = client.get("/dashboard/outbox").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert f'action="/dashboard/outbox/{dead}/retry"' in page
    assert client.post(f"/dashboard/outbox/{dead}/retry", data={"csrf": "x"}).status_code == 400
    done = client.post(
        f"/dashboard/outbox/{dead}/retry", data={"csrf": token}, follow_redirects=False
    )
    assert (
        done.status_code == 303 and done.headers["location"] == f"/dashboard/outbox?retried={dead}"
    )
    assert [m.status for m in rows(session_factory, OutboxMessage)] == ["pending"]
    assert 'id="retried"' in client.get(done.headers["location"]).text


def test_catalog_orders_and_outbox_reads_on_postgres(settings, pg_session_factory):
    keys = make_keys(pg_session_factory)
    with TestClient(create_app(settings, pg_session_factory)) as client:
        admin = bearer(keys["admin"])
        sync_and_ingest(client, admin)
        placed = place(pg_session_factory, settings, items=(("WL-001", 1),))
        pay(pg_session_factory, settings, placed.public_id)
        catalog = client.get("/api/admin/catalog", headers=admin).json()
        assert catalog["totals"]["products"] == 39
        assert sum(p["trending"] > 0 for p in catalog["products"]) >= 1
        (order,) = client.get("/api/admin/orders", headers=admin).json()["orders"]
        assert order["status"] == "paid" and order["receipt_verified"] is True
        refund = client.post(
            f"/api/admin/orders/{order['id']}/refund", json={"reason": "returned"}, headers=admin
        )
        assert refund.json()["order_status"] == "refunded"
        assert client.get("/api/admin/outbox", headers=admin).status_code == 200
        for path in ("/dashboard/catalog", "/dashboard/orders", "/dashboard/outbox"):
            assert client.get(path, headers=admin).status_code == 200
