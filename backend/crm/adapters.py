"""CRM adapters: the local CRM (default) and HubSpot; `crm_for` picks one from settings.

HubSpot (CRM v3, private-app token): a contact whose HubSpot id we know (from an earlier push)
is updated by id; otherwise it is upserted by email (`batch/upsert` with idProperty=email), or,
without an email, upserted by our contact's opaque public id in a unique-value custom property
(HUBSPOT_ID_PROPERTY, created on first use), so a retried or repeated push never makes a
second record. Erasure is HubSpot's GDPR delete of every id we created.
Errors: 401/403 → permanent "credentials rejected"; 429 → temporary, not before Retry-After;
5xx, timeouts, connection errors → temporary; other 4xx → permanent with HubSpot's message.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import requests
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.crm.models import CrmRecord
from backend.crm.service import CrmPush
from backend.integrations import IntegrationError, call_json_api, raise_for_status

DEFAULT_RETRY_AFTER = timedelta(seconds=10)


class Crm(abc.ABC):
    """Where contact pushes go; each method returns the provider reference of the result."""

    name: str

    @abc.abstractmethod
    def upsert(self, session: Session, push: CrmPush) -> str:
        """Create or update the contact (and mark a new lead)."""

    @abc.abstractmethod
    def erase(self, session: Session, push: CrmPush) -> str:
        """Delete the contact and what the CRM holds about it."""


def crm_for(settings: Settings) -> Crm:
    """HubSpot when a real access token is configured, else the local CRM."""
    if settings.configured("hubspot_access_token"):
        return HubSpotCrm(
            token=settings.hubspot_access_token,
            base_url=settings.hubspot_api_base,
            goal_property=settings.hubspot_goal_property,
            id_property=settings.hubspot_id_property,
        )
    return LocalCrm()


# --- local ---------------------------------------------------------------------------------


class LocalCrm(Crm):
    """Records each push in `crm_records` (the backend database): what would have been sent."""

    name = "local"

    def upsert(self, session: Session, push: CrmPush) -> str:
        return self._record(session, push, operation="upsert", properties=push.payload)

    def erase(self, session: Session, push: CrmPush) -> str:
        session.execute(
            update(CrmRecord)
            .where(CrmRecord.contact_id == push.contact_id)
            .values(properties={"erased": True})
            .execution_options(synchronize_session=False)
        )
        return self._record(session, push, operation="erase", properties={})

    def _record(self, session: Session, push: CrmPush, *, operation: str, properties) -> str:
        record = session.execute(
            select(CrmRecord).where(CrmRecord.outbox_message_id == push.message_id)
        ).scalar_one_or_none()
        if record is None:  # delivered twice (a lost lease): still one record
            record = CrmRecord(
                outbox_message_id=push.message_id,
                contact_id=push.contact_id,
                operation=operation,
                topic=push.topic,
                properties=properties,
            )
            session.add(record)
            session.flush()
        return f"local:{record.id}"


# --- HubSpot -------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(timezone.utc)


class HubSpotCrm(Crm):
    name = "hubspot"
    PREFIX = "hubspot:"

    def __init__(
        self,
        *,
        token: str,
        base_url: str,
        goal_property: str = "",
        id_property: str = "",
        http: requests.Session | None = None,
        timeout: tuple[float, float] = (5.0, 20.0),
        clock: Callable[[], datetime] = _now,
    ):
        self._token = token
        self.base_url = base_url.rstrip("/")
        self.goal_property = goal_property
        self.id_property = id_property
        self._id_property_ready = False
        self.http = http or requests.Session()
        self.timeout = timeout
        self.clock = clock

    # the two operations ------------------------------------------------------------------

    def upsert(self, session: Session, push: CrmPush) -> str:
        properties = self.properties(push.payload)
        known = self._ids(push.known_refs)
        if known:
            response = self._call(
                "PATCH",
                f"/crm/v3/objects/contacts/{known[0]}",
                {"properties": properties},
                accept=(404,),
            )
            if response.status_code != 404:
                return self.PREFIX + str(response.json().get("id") or known[0])
            # deleted in HubSpot meanwhile: fall through and create it again
        email = push.payload["fields"].get("email")
        if email:
            return self._upsert_by("email", email, properties)
        if self.id_property in properties:
            return self._upsert_by(self.id_property, properties[self.id_property], properties)
        data = self._call("POST", "/crm/v3/objects/contacts", {"properties": properties}).json()
        return self.PREFIX + str(data["id"])

    def _upsert_by(self, id_property: str, value: str, properties: dict) -> str:
        body = {"inputs": [{"idProperty": id_property, "id": value, "properties": properties}]}
        data = self._call("POST", "/crm/v3/objects/contacts/batch/upsert", body).json()
        results = data.get("results") or []
        if not results:
            raise IntegrationError(
                f"hubspot: upsert returned no record: {_message(data)}", permanent=True
            )
        return self.PREFIX + str(results[0]["id"])

    def erase(self, session: Session, push: CrmPush) -> str:
        ids = self._ids(push.known_refs)
        for record_id in ids:
            self._call(
                "POST",
                "/crm/v3/objects/contacts/gdpr-delete",
                {"objectId": record_id},
                accept=(404,),
            )
        return f"hubspot:erased:{','.join(ids)}" if ids else "hubspot:nothing-to-erase"

    # mapping -----------------------------------------------------------------------------

    def properties(self, payload: dict) -> dict[str, str]:
        """Our consented view → HubSpot contact properties (standard ones plus the goal)."""
        fields = payload["fields"]
        props: dict[str, str] = {}
        if self.id_property and payload.get("contact_ref"):
            self._ensure_id_property()
            props[self.id_property] = str(payload["contact_ref"])
        if fields.get("email"):
            props["email"] = fields["email"]
        if fields.get("name"):
            first, _, last = fields["name"].strip().rpartition(" ")
            if not first:
                first, last = last, ""
            props["firstname"] = first
            if last:
                props["lastname"] = last
        if fields.get("phone"):
            props["phone"] = fields["phone"]
        if self.goal_property:  # a custom property the shop created in HubSpot
            if fields.get("wellness_goal"):
                props[self.goal_property] = fields["wellness_goal"]
            elif not payload.get("health_consent"):
                props[self.goal_property] = ""  # an empty string clears it in HubSpot
        if payload.get("lead"):
            props["hs_lead_status"] = "NEW"
        return props

    def _ensure_id_property(self) -> None:
        """Create the unique-value contact property once; refuse one that is not unique."""
        if self._id_property_ready:
            return
        path = f"/crm/v3/properties/contacts/{self.id_property}"
        found = self._call("GET", path, None, accept=(404,))
        if found.status_code == 404:
            self._call(
                "POST",
                "/crm/v3/properties/contacts",
                {
                    "name": self.id_property,
                    "label": "Shop contact reference",
                    "description": "The shop's opaque contact id (upsert key; no personal data)",
                    "type": "string",
                    "fieldType": "text",
                    "groupName": "contactinformation",
                    "hasUniqueValue": True,
                },
                accept=(409,),  # created meanwhile by another worker
            )
        elif not _json(found).get("hasUniqueValue"):
            raise IntegrationError(
                f"hubspot: contact property {self.id_property} must have unique values "
                "(HUBSPOT_ID_PROPERTY): create it with hasUniqueValue or name another",
                permanent=True,
            )
        self._id_property_ready = True

    def _ids(self, refs) -> list[str]:
        ids: list[str] = []
        for ref in refs:
            rest = ref[len(self.PREFIX) :] if ref and ref.startswith(self.PREFIX) else ""
            if rest.isdigit() and rest not in ids:
                ids.append(rest)
        return ids

    # the one HTTP chokepoint -------------------------------------------------------------

    def _call(
        self, method: str, path: str, body: dict | None, *, accept: tuple[int, ...] = ()
    ) -> requests.Response:
        response = call_json_api(
            self.http,
            "hubspot",
            method,
            self.base_url + path,
            token=self._token,
            body=body,
            timeout=self.timeout,
        )
        if response.status_code not in accept:
            raise_for_status(
                "hubspot",
                response,
                now=self.clock(),
                default_retry=DEFAULT_RETRY_AFTER,
                message=lambda r: _message(_json(r)),
            )
        return response


def _json(response: requests.Response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {"message": response.text[:200] or response.reason}
    return data if isinstance(data, dict) else {}


def _message(data: dict) -> str:
    """HubSpot's human-readable error (`message`, else the first of `errors`), shortened."""
    message = data.get("message")
    errors = data.get("errors")
    if not message and isinstance(errors, list) and errors and isinstance(errors[0], dict):
        message = errors[0].get("message")
    return str(message or "request rejected")[:200]
