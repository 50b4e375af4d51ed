"""One verb per data-subject right, for the person (every record merged into theirs):
`withdraw`, `erase`, `export`. Every entry point calls these: the chat, a WhatsApp/SMS STOP,
the unsubscribe link, Twilio error 21610, the CLI and the admin API.

Each is idempotent: a withdrawal already recorded records nothing, an erased person stays erased,
an export only reads (and logs an access request).
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import bus, ledger
from backend.contacts import identity
from backend.contacts.consent import (
    MARKETING,
    MARKETING_CHANNELS,
    TRANSACTIONAL,
    add_consent_event,
    consent_state,
)
from backend.contacts.models import ConsentEvent, Contact, DataSubjectRequest
from backend.db import utcnow
from backend.events import ConsentWithdrawn, ContactErased
from backend.privacy import registry

log = logging.getLogger(__name__)

ERASURE_WORDING = "Delete my data: every consent withdrawn."


def withdraw(
    session: Session,
    *,
    contact: Contact,
    purpose: str = MARKETING,
    channels: tuple[str, ...] = MARKETING_CHANNELS,
    source: str,
    wording: str,
    version: str,
    conversation_id: str | None = None,
) -> list[ConsentEvent]:
    """Withdraw `purpose` on `channels` for the person, at once and idempotently.

    A channel whose latest decision is already a withdrawal gets no new event. Scheduled
    follow-ups and queued messages of that purpose and channel are cancelled/blocked now.
    """

    person = identity.resolve(session, contact)
    if person is None or person.erased_at is not None:
        return []
    state = consent_state(session, contact_id=person.id)
    events = [
        add_consent_event(
            session,
            contact=person,
            purpose=purpose,
            channel=channel,
            granted=False,
            wording=wording,
            version=version,
            conversation_id=conversation_id,
            source=source,
        )
        for channel in channels
        if state.get((purpose, channel)) is not False
    ]
    ids = identity.person_contact_ids(session, contact_id=person.id)
    stopped = registry.run_withdraw_hooks(
        session, contact_ids=ids, purpose=purpose, channels=channels
    )
    if events:
        bus.publish(  # the CRM hears of it: see backend/bootstrap.py
            session,
            ConsentWithdrawn(
                contact_id=person.id, consent_event_ids=tuple(e.id for e in events), source=source
            ),
        )
    log.info(
        "consent withdrawn",
        extra={"contact": person.id, "purpose": purpose, "events": len(events), "stopped": stopped},
    )
    return events


@dataclass(frozen=True)
class Erasure:
    request_id: int
    contacts: int  # records erased (the person's own and those merged into it)
    conversations: int
    rows: dict[str, int]


def erase(
    session: Session,
    *,
    contact: Contact,
    key: str,
    version: str,
    source: str = "api",
    keep_tracker_of: str | None = None,
) -> Erasure:
    """Right to erasure for the person: every consent withdrawn, then every registered column of
    every record blanked, pseudonymised or deleted (backend/privacy/registry.py).

    Orders and invoices stay (tax law) without contact details. `keep_tracker_of`: the chat in
    progress, whose Rasa tracker rows go after the turn (`finish_tracker_erasures`). Run
    `registry.scrub_storage(engine)` after the commit.
    """

    person = identity.resolve(session, contact)
    ids = identity.person_contact_ids(session, contact_id=person.id)
    conversations = identity.conversations_of(session, contact_id=person.id)
    senders = [c.sender_id for c in conversations if not c.sender_id.startswith("anon-")]
    if keep_tracker_of and keep_tracker_of not in senders:
        senders.append(keep_tracker_of)
    for contact_id in ids:
        for (purpose, channel), granted in sorted(
            consent_state(session, contact_id=contact_id).items()
        ):
            if granted:
                add_consent_event(
                    session,
                    contact=session.get(Contact, contact_id),
                    purpose=purpose,
                    channel=channel,
                    granted=False,
                    wording=ERASURE_WORDING,
                    version=version,
                    source="erasure",
                )
    registry.run_withdraw_hooks(
        session, contact_ids=ids, purpose=MARKETING, channels=MARKETING_CHANNELS
    )
    registry.run_withdraw_hooks(
        session, contact_ids=ids, purpose=TRANSACTIONAL, channels=MARKETING_CHANNELS
    )
    found = registry.find_rows(session, contact_ids=ids, senders=senders)
    rows = registry.erase_person(session, person=found, key=key, keep_tracker_of=keep_tracker_of)
    for contact_id in ids:  # after the registry pass: the CRM delete push keeps its reference
        bus.publish(
            session, ContactErased(contact_id=contact_id, conversation_id=keep_tracker_of or "")
        )
    now = utcnow()
    for contact_id in ids:
        record = session.get(Contact, contact_id)
        record.erased_at = record.erased_at or now
    request = DataSubjectRequest(
        contact_id=person.id,
        kind="deletion",
        note=f"erased ({source}); orders/invoices kept for tax law without contact details",
    )
    if keep_tracker_of is not None:
        request.status, request.sender_id = "pending_tracker", keep_tracker_of
    else:
        request.status, request.completed_at = "completed", now
    session.add(request)
    session.flush()
    log.info("person erased", extra={"contact": person.id, "records": len(ids), "source": source})
    return Erasure(request.id, len(ids), len(conversations), rows)


# --- export (GDPR art. 15 and 20) ------------------------------------------------------------


def export(session: Session, *, contact: Contact, requested_by: str = "api") -> dict:
    """Everything held about the person, across all their records, as one JSON-ready dict:
    the contact, every conversation (with the chat's messages from the tracker store), consent
    history with ledger proofs, and every registered table's rows. Logged as an access request."""
    person = identity.resolve(session, contact)
    ids = identity.person_contact_ids(session, contact_id=person.id)
    conversations = identity.conversations_of(session, contact_id=person.id)
    senders = [c.sender_id for c in conversations]
    found = registry.find_rows(session, contact_ids=ids, senders=senders)
    records: dict[str, list[dict]] = {}
    for spec in (*registry.PERSONAL_DATA, registry.TRACKER):
        if spec.table in ("contacts", "consent_events", "identity_checks"):
            continue  # contacts and consents have their own sections; codes are secrets
        found_rows = registry.rows(session, person=found, spec=spec)
        if found_rows:
            records[spec.table] = [_plain(r) for r in found_rows]
    consents = []
    for event in session.execute(
        select(ConsentEvent)
        .where(ConsentEvent.contact_id.in_(ids))
        .order_by(ConsentEvent.created_at, ConsentEvent.id)
    ).scalars():
        entry = ledger.latest_for(session, entity_type="consent", entity_id=event.id)
        consents.append(
            {
                "purpose": event.purpose,
                "channel": event.channel,
                "granted": bool(event.granted),
                "wording": event.wording,
                "wording_version": event.wording_version,
                "source": event.source,
                "conversation": event.conversation_id,
                "at": _plain_value(event.created_at),
                "ledger": None
                if entry is None
                else {
                    "seq": entry.seq,
                    "record_hash": entry.record_hash,
                    "entry_hash": entry.entry_hash,
                },
            }
        )
    request = DataSubjectRequest(
        contact_id=person.id,
        kind="access",
        status="completed",
        completed_at=utcnow(),
        note=f"full export ({requested_by})",
    )
    session.add(request)
    session.flush()
    return {
        "request_id": request.id,
        "generated_at": _plain_value(utcnow()),
        "contact": {
            "id": person.public_id,
            "name": person.name,
            "email": person.email,
            "phone": person.phone_e164,
            "wellness_goal": person.wellness_goal,
            "timezone": person.timezone,
            "created_at": _plain_value(person.created_at),
            "merged_records": [session.get(Contact, i).public_id for i in ids if i != person.id],
        },
        "conversations": [
            {
                "id": c.sender_id,
                "channel": c.channel,
                "started_at": _plain_value(c.created_at),
                "verified": c.verified_at is not None or identity.channel_proves(c, person),
            }
            for c in conversations
        ],
        "consents": consents,
        "records": records,
    }


EXPORT_LINK_SALT = "data-export"
EXPORT_LINK_SECONDS = 3600


def export_token(*, key: str, contact: Contact) -> str:
    """A link token for the person's own copy (shown only in a chat that proved it is them)."""
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(key, salt=EXPORT_LINK_SALT).dumps({"c": contact.public_id})


def contact_for_export_token(session: Session, *, key: str, token: str) -> Contact | None:
    """The live person a token (at most an hour old) names, else None."""
    from itsdangerous import BadSignature, URLSafeTimedSerializer

    try:
        data = URLSafeTimedSerializer(key, salt=EXPORT_LINK_SALT).loads(
            token, max_age=EXPORT_LINK_SECONDS
        )
    except BadSignature:  # SignatureExpired is one
        return None
    public_id = data.get("c") if isinstance(data, dict) else None
    contact = session.execute(
        select(Contact).where(Contact.public_id == str(public_id))
    ).scalar_one_or_none()
    person = identity.resolve(session, contact)
    return person if person is not None and person.erased_at is None else None


def jsonable(data: dict) -> dict:
    """The export with every value JSON-encodable (dates as ISO text)."""
    import json

    return json.loads(json.dumps(data, default=str))


def _plain(row: dict) -> dict:
    return {k: _plain_value(v) for k, v in row.items()}


def _plain_value(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def export_html(data: dict) -> str:
    """A readable page of an export (the same content as the JSON)."""
    esc = html.escape

    def table(rows: list[dict]) -> str:
        if not rows:
            return "<p>none</p>"
        cols = list(rows[0])
        head = "".join(f"<th>{esc(str(c))}</th>" for c in cols)
        body = "".join(
            "<tr>" + "".join(f"<td>{esc(str(r.get(c, '')))}</td>" for c in cols) + "</tr>"
            for r in rows
        )
        return f"<table><tr>{head}</tr>{body}</table>"

    contact = {k: v for k, v in data["contact"].items() if k != "merged_records"}
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Your data</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px;font-size:13px;vertical-align:top}</style>",
        "</head><body><h1>What we hold about you</h1>",
        f"<p>Generated {esc(str(data['generated_at']))} (request {data['request_id']}).</p>",
        "<h2>Your details</h2>",
        table([contact]),
        "<h2>Conversations</h2>",
        table(data["conversations"]),
        "<h2>Consent history (with ledger proofs)</h2>",
        table(
            [{**c, "ledger": c["ledger"] and c["ledger"]["entry_hash"]} for c in data["consents"]]
        ),
    ]
    for name, rows in data["records"].items():
        parts += [f"<h2>{esc(name.replace('_', ' '))}</h2>", table(rows)]
    parts.append("</body></html>")
    return "\n".join(parts)
