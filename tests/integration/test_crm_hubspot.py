"""The HubSpot adapter against a local server answering like HubSpot's CRM v3 API, and an
outage delivered through the outbox."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from werkzeug import Response

from backend.config import load_settings
from backend.contacts import service
from backend.crm.adapters import HubSpotCrm, LocalCrm, crm_for
from backend.crm.service import CrmPush
from backend.db import session_scope
from backend.integrations import IntegrationError, RateLimited
from backend.outbox import queue as outbox
from backend.outbox.models import OutboxMessage

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
V = "2026-11"
FIELDS = {"name": "Mary Ann Smith", "email": "mary@shop.test", "phone": "+14155550123"}


def hubspot(httpserver, **kw) -> HubSpotCrm:
    return HubSpotCrm(
        token=TOKEN, base_url=httpserver.url_for(""), clock=lambda: NOW, timeout=(2, 5), **kw
    )


def push(fields=None, *, refs=(), lead=None, health=False, operation="upsert") -> CrmPush:
    payload = {
        "contact_ref": "c-1",
        "fields": dict(FIELDS if fields is None else fields),
        "health_consent": health,
        "marketing": {"email": False, "sms": False, "whatsapp": False},
    }
    if lead:
        payload["lead"] = lead
    return CrmPush(1, 1, "contact_updated", operation, payload, tuple(refs))


def hs_error(status, message, category="VALIDATION_ERROR", **extra) -> Response:
    body = {
        "status": "error",
        "message": message,
        "correlationId": "a43683b0-5717-4ceb-80b4-104d02915d8c",
        "category": category,
    }
    return Response(json.dumps(body), status=status, content_type="application/json", headers=extra)


def upsert_ok(record_id="501", new=True) -> Response:
    body = {
        "status": "COMPLETE",
        "results": [
            {
                "id": record_id,
                "new": new,
                "properties": {"email": "mary@shop.test"},
                "createdAt": "2026-11-25T12:00:00.000Z",
                "updatedAt": "2026-11-25T12:00:00.000Z",
                "archived": False,
            }
        ],
        "startedAt": "2026-11-25T12:00:00.000Z",
        "completedAt": "2026-11-25T12:00:00.100Z",
    }
    return Response(json.dumps(body), content_type="application/json")


def test_bootstrap_uses_hubspot_only_with_a_real_token():
    assert isinstance(crm_for(load_settings({}, dotenv=False)), LocalCrm)
    assert isinstance(
        crm_for(load_settings({"HUBSPOT_ACCESS_TOKEN": "HUBSPOT-TEST-TOKEN"}, dotenv=False)),
        LocalCrm,
    )
    assert isinstance(
        crm_for(load_settings({"HUBSPOT_ACCESS_TOKEN": TOKEN}, dotenv=False)), HubSpotCrm
    )


def test_upsert_by_email_sends_standard_properties_with_bearer_token(httpserver):
    seen = {}

    def handler(request):
        seen["auth"] = request.headers.get("Authorization")
        seen["type"] = request.headers.get("Content-Type")
        seen["body"] = request.get_json()
        return upsert_ok("501")

    httpserver.expect_oneshot_request(
        "/crm/v3/objects/contacts/batch/upsert", method="POST"
    ).respond_with_handler(handler)
    ref = hubspot(httpserver).upsert(None, push(lead={"kind": "callback"}))
    assert ref == "hubspot:501"
    assert seen["auth"] == f"Bearer {TOKEN}" and seen["type"] == "application/json"
    assert seen["body"] == {
        "inputs": [
            {
                "idProperty": "email",
                "id": "mary@shop.test",
                "properties": {
                    "email": "mary@shop.test",
                    "firstname": "Mary Ann",
                    "lastname": "Smith",
                    "phone": "+14155550123",
                    "hs_lead_status": "NEW",
                },
            }
        ]
    }


def test_goal_goes_only_to_a_configured_property_and_only_with_consent(httpserver):
    bodies = []

    def handler(request):
        bodies.append(request.get_json()["inputs"][0]["properties"])
        return upsert_ok()

    httpserver.expect_request("/crm/v3/objects/contacts/batch/upsert").respond_with_handler(handler)
    with_goal = {**FIELDS, "wellness_goal": "diabetes"}
    hubspot(httpserver).upsert(None, push(with_goal, health=True))  # no property configured
    crm = hubspot(httpserver, goal_property="wellness_goal")
    crm.upsert(None, push(with_goal, health=True))
    crm.upsert(None, push(FIELDS, health=False))  # consent withdrawn: clear it
    assert "wellness_goal" not in bodies[0]
    assert bodies[1]["wellness_goal"] == "diabetes"
    assert bodies[2]["wellness_goal"] == ""


def test_a_known_record_is_updated_by_id(httpserver):
    httpserver.expect_oneshot_request(
        "/crm/v3/objects/contacts/777", method="PATCH"
    ).respond_with_json({"id": "777", "properties": {}, "archived": False})
    assert hubspot(httpserver).upsert(None, push(refs=("hubspot:777", "local:3"))) == (
        "hubspot:777"
    )


def test_a_record_deleted_in_hubspot_is_upserted_again(httpserver):
    httpserver.expect_oneshot_request(
        "/crm/v3/objects/contacts/777", method="PATCH"
    ).respond_with_response(hs_error(404, "resource not found", "OBJECT_NOT_FOUND"))
    httpserver.expect_oneshot_request(
        "/crm/v3/objects/contacts/batch/upsert", method="POST"
    ).respond_with_response(upsert_ok("888"))
    assert hubspot(httpserver).upsert(None, push(refs=("hubspot:777",))) == "hubspot:888"


def test_without_a_ref_property_a_contact_without_email_is_created(httpserver):
    seen = {}

    def handler(request):
        seen["body"] = request.get_json()
        return Response(
            json.dumps({"id": "902", "properties": {}, "archived": False}),
            status=201,
            content_type="application/json",
        )

    httpserver.expect_oneshot_request(
        "/crm/v3/objects/contacts", method="POST"
    ).respond_with_handler(handler)
    ref = hubspot(httpserver).upsert(None, push({"name": "Bo", "phone": "+14155550123"}))
    assert ref == "hubspot:902"
    assert seen["body"] == {"properties": {"firstname": "Bo", "phone": "+14155550123"}}


def test_a_contact_without_email_is_upserted_by_its_unique_ref_property(httpserver):
    """Pushed twice without a known HubSpot id (a retry after a lost answer, a lost ref):
    one record, found by our opaque contact ref, never a second one."""
    records: dict[str, str] = {}
    bodies = []

    def upsert(request):
        body = request.get_json()
        bodies.append(body)
        [item] = body["inputs"]
        new = item["id"] not in records
        records.setdefault(item["id"], str(900 + len(records)))
        return upsert_ok(records[item["id"]], new=new)

    httpserver.expect_oneshot_request(
        "/crm/v3/properties/contacts/shop_contact_ref", method="GET"
    ).respond_with_response(hs_error(404, "Unable to find property", "OBJECT_NOT_FOUND"))
    created = []
    httpserver.expect_oneshot_request(
        "/crm/v3/properties/contacts", method="POST"
    ).respond_with_handler(
        lambda request: (
            created.append(request.get_json())
            or Response(json.dumps(request.get_json()), status=201, content_type="application/json")
        )
    )
    httpserver.expect_request(
        "/crm/v3/objects/contacts/batch/upsert", method="POST"
    ).respond_with_handler(upsert)
    crm = crm_for(
        load_settings(
            {"HUBSPOT_ACCESS_TOKEN": TOKEN, "HUBSPOT_API_BASE": httpserver.url_for("")},
            dotenv=False,
        )
    )
    no_email = {"name": "Bo", "phone": "+14155550123"}
    first = crm.upsert(None, push(no_email))
    again = crm.upsert(None, push(no_email))

    assert first == again == "hubspot:900" and len(records) == 1
    assert bodies[0] == {
        "inputs": [
            {
                "idProperty": "shop_contact_ref",
                "id": "c-1",
                "properties": {
                    "shop_contact_ref": "c-1",
                    "firstname": "Bo",
                    "phone": "+14155550123",
                },
            }
        ]
    }
    [prop] = created  # created once, as a unique-value property
    assert (prop["name"], prop["hasUniqueValue"], prop["type"]) == (
        "shop_contact_ref",
        True,
        "string",
    )
    assert not any(r.path == "/crm/v3/objects/contacts" for r, _ in httpserver.log)


def test_a_ref_property_without_unique_values_is_a_clear_permanent_error(httpserver):
    httpserver.expect_request("/crm/v3/properties/contacts/shop_ref").respond_with_json(
        {"name": "shop_ref", "type": "string", "hasUniqueValue": False}
    )
    with pytest.raises(IntegrationError) as err:
        hubspot(httpserver, id_property="shop_ref").upsert(None, push({"name": "Bo"}))
    assert err.value.permanent and "unique values" in err.value.message


def test_erase_is_a_gdpr_delete_of_every_known_record(httpserver):
    deleted = []

    def handler(request):
        deleted.append(request.get_json())
        return Response(status=204)

    httpserver.expect_request(
        "/crm/v3/objects/contacts/gdpr-delete", method="POST"
    ).respond_with_handler(handler)
    crm = hubspot(httpserver)
    refs = ("hubspot:777", "superseded", "hubspot:777", "hubspot:888")
    assert crm.erase(None, push(refs=refs, operation="erase")) == "hubspot:erased:777,888"
    assert deleted == [{"objectId": "777"}, {"objectId": "888"}]
    assert crm.erase(None, push(operation="erase")) == "hubspot:nothing-to-erase"


def test_rate_limit_is_temporary_and_keeps_retry_after(httpserver):
    httpserver.expect_oneshot_request(
        "/crm/v3/objects/contacts/batch/upsert"
    ).respond_with_response(
        hs_error(
            429, "You have reached your secondly limit.", "RATE_LIMITS", **{"Retry-After": "7"}
        )
    )
    with pytest.raises(RateLimited) as caught:
        hubspot(httpserver).upsert(None, push())
    assert caught.value.permanent is False
    assert caught.value.retry_at == NOW + timedelta(seconds=7)


@pytest.mark.parametrize(
    "response, permanent, text",
    [
        (
            hs_error(401, "Authentication credentials not found.", "INVALID_AUTHENTICATION"),
            True,
            "hubspot: credentials rejected (401)",
        ),
        (
            hs_error(403, "This app hasn't been granted all required scopes", "MISSING_SCOPES"),
            True,
            "hubspot: credentials rejected (403)",
        ),
        (hs_error(500, "internal error", "INTERNAL_ERROR"), False, "hubspot: server error 500"),
        (Response("<html>Bad gateway</html>", status=502), False, "hubspot: server error 502"),
        (
            hs_error(400, 'Property values were not valid: "phone" is not a valid phone'),
            True,
            'hubspot: 400 Property values were not valid: "phone" is not a valid phone',
        ),
    ],
)
def test_errors_map_to_permanent_or_temporary(httpserver, response, permanent, text):
    httpserver.expect_oneshot_request(
        "/crm/v3/objects/contacts/batch/upsert"
    ).respond_with_response(response)
    with pytest.raises(IntegrationError) as caught:
        hubspot(httpserver).upsert(None, push())
    assert caught.value.permanent is permanent
    assert caught.value.message == text
    assert TOKEN not in str(caught.value)


def test_an_unreachable_hubspot_is_temporary():
    crm = HubSpotCrm(token=TOKEN, base_url="http://127.0.0.1:9", timeout=(1, 1))
    with pytest.raises(IntegrationError, match="connection failed") as caught:
        crm.upsert(None, push())
    assert caught.value.permanent is False


# --- through the outbox -------------------------------------------------------------------


ID_PROPERTY = {"name": "shop_contact_ref", "type": "string", "hasUniqueValue": True}


@pytest.fixture
def hubspot_settings(httpserver, db_url):
    httpserver.expect_request(
        "/crm/v3/properties/contacts/shop_contact_ref", method="GET"
    ).respond_with_json(ID_PROPERTY)
    return load_settings(
        {
            "DATABASE_URL": db_url,
            "HUBSPOT_ACCESS_TOKEN": TOKEN,
            "HUBSPOT_API_BASE": httpserver.url_for("").rstrip("/"),
        },
        dotenv=False,
    )


def consenting_contact(session_factory, sender="s1", email="mary@shop.test"):
    with session_scope(session_factory) as session:
        service.record_privacy(
            session, sender_id=sender, channel="rest", granted=True, wording="w", version=V
        )
        service.save_contact_details(
            session,
            sender_id=sender,
            details=service.ContactDetails(name="Mary Smith", email=email),
            version=V,
        )


def crm_messages(session_factory) -> list[OutboxMessage]:
    with session_factory() as session:
        return list(
            session.execute(
                select(OutboxMessage).where(OutboxMessage.kind == "crm").order_by(OutboxMessage.id)
            ).scalars()
        )


def test_an_outage_delays_delivery_and_drops_nothing(httpserver, session_factory, hubspot_settings):
    answers = {"calls": 0}

    def flaky(request):
        answers["calls"] += 1
        if answers["calls"] <= 4:  # two pushes × two attempts during the outage
            return hs_error(503, "Service Unavailable", "SERVICE_UNAVAILABLE")
        return upsert_ok(str(600 + answers["calls"]))

    httpserver.expect_request("/crm/v3/objects/contacts/batch/upsert").respond_with_handler(flaky)
    consenting_contact(session_factory, "s1", "mary@shop.test")
    consenting_contact(session_factory, "s2", "ann@shop.test")
    now = datetime.now(timezone.utc) + timedelta(seconds=1)
    for _ in range(2):  # the outage: both attempts fail, the messages wait
        counts = outbox.deliver_due(session_factory, hubspot_settings, worker_id="w", now=now)
        assert counts["retry"] == 2
        now += timedelta(hours=1, seconds=1)
    waiting = crm_messages(session_factory)
    assert [(m.status, m.attempts) for m in waiting] == [("pending", 2), ("pending", 2)]
    assert {m.last_error for m in waiting} == {"IntegrationError: hubspot: server error 503"}

    counts = outbox.deliver_due(session_factory, hubspot_settings, worker_id="w", now=now)
    assert counts["sent"] == 2
    delivered = crm_messages(session_factory)
    assert [m.status for m in delivered] == ["sent", "sent"]
    assert {m.provider_ref for m in delivered} == {"hubspot:605", "hubspot:606"}
    assert answers["calls"] == 6


def test_hubspot_400_is_dead_with_a_redacted_reason(httpserver, session_factory, hubspot_settings):
    httpserver.expect_request("/crm/v3/objects/contacts/batch/upsert").respond_with_response(
        hs_error(400, "Property values were not valid: mary@shop.test is not a valid email")
    )
    consenting_contact(session_factory)
    later = datetime.now(timezone.utc) + timedelta(seconds=1)
    outbox.deliver_due(session_factory, hubspot_settings, worker_id="w", now=later)
    (message,) = crm_messages(session_factory)
    assert message.status == "dead"
    assert message.last_error == (
        "IntegrationError: hubspot: 400 Property values were not valid: <email> is not a valid "
        "email"
    )


def test_erasure_deletes_the_record_created_earlier(httpserver, session_factory, hubspot_settings):
    httpserver.expect_oneshot_request(
        "/crm/v3/objects/contacts/batch/upsert"
    ).respond_with_response(upsert_ok("4242"))
    deleted = []
    httpserver.expect_oneshot_request(
        "/crm/v3/objects/contacts/gdpr-delete", method="POST"
    ).respond_with_handler(
        lambda request: deleted.append(request.get_json()) or Response(status=204)
    )
    consenting_contact(session_factory)
    later = datetime.now(timezone.utc) + timedelta(seconds=1)
    outbox.deliver_due(session_factory, hubspot_settings, worker_id="w", now=later)
    with session_scope(session_factory) as session:
        service.erase(session, sender_id="s1", version=V)
    later = datetime.now(timezone.utc) + timedelta(seconds=1)
    outbox.deliver_due(session_factory, hubspot_settings, worker_id="w", now=later)
    upsert, erasure = crm_messages(session_factory)
    assert (upsert.provider_ref, upsert.payload) == ("hubspot:4242", {"erased": True})
    assert (erasure.status, erasure.provider_ref) == ("sent", "hubspot:erased:4242")
    assert deleted == [{"objectId": "4242"}]
