"""Every table and column that holds personal data, in one place, and how erasure treats it.

`PERSONAL_DATA` is the list erasure (`erase_person`), export and the erasure test walk. A new
column holding a name, an email, a phone, a chat id or free text about a person belongs here
(tests/integration/test_identity_erasure.py scans every column of every table after erasure).

How a person's rows are found (`by`):
* `contact`  - the table's `contact_id` is one of the person's contact ids;
* `sender`   - the column holds one of the person's chat ids (Rasa sender ids);
* `conversation` - `conversation_id` is one of the person's `conversations.id`;
* `lead`     - `lead_id` is one of the person's leads.

What erasure does to a column: NULL, a fixed value, or PSEUDONYM (a keyed hash of the value,
HMAC-SHA256 with PSEUDONYM_KEY: WhatsApp chat ids are phone numbers, but records about one chat
must still line up); `delete` removes the rows.

Withdrawal hooks: each area registers what a withdrawal means for it (messaging cancels
scheduled follow-ups and blocks queued marketing). TODO(lead): wire these to the event bus
(ConsentWithdrawn / ContactErased handlers) when backend/events.py lands.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import delete, inspect, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from backend import bus
from backend.db import Base

PSEUDONYM = object()
ERASED_JSON = {"erased": True}
RASA_EVENTS_TABLE = "events"  # Rasa's SQL tracker store, when it shares DATABASE_URL


@dataclass(frozen=True)
class PersonalData:
    table: str
    by: tuple[tuple[str, str], ...]  # (how, column): rows matching any of them are the person's
    erase: dict = field(default_factory=dict)  # column -> None | value | PSEUDONYM
    delete: bool = False
    kept: str = ""  # what stays after erasure and why (docs/data-protection.md)


PERSONAL_DATA: tuple[PersonalData, ...] = (
    PersonalData(
        "contacts",
        (("id", "id"),),
        dict.fromkeys(
            ("name", "email", "phone_e164", "wellness_goal", "timezone", "email_key", "phone_key")
        ),
        kept="the row (public id, dates) so orders, consents and the ledger still point somewhere",
    ),
    PersonalData(
        "conversations",
        (("contact", "contact_id"), ("sender", "sender_id")),
        {"sender_id": PSEUDONYM},
        kept="flags and dates; the chat id becomes a keyed hash",
    ),
    PersonalData("interactions", (("conversation", "conversation_id"),), delete=True),
    PersonalData(
        "consent_events",
        (("contact", "contact_id"), ("sender", "conversation_id")),
        {"conversation_id": PSEUDONYM},
        kept="purpose, channel, decision, wording, time: proof of consent (GDPR art. 7(1)); "
        "their ledger entries hold hashes only",
    ),
    PersonalData(
        "orders",
        (("contact", "contact_id"), ("sender", "conversation_id")),
        {"email": None, "payment_url": None, "recovery_url": None, "conversation_id": PSEUDONYM},
        kept="items, amounts, status, dates: tax records (invoices hold no contact details)",
    ),
    PersonalData(
        "leads",
        (("contact", "contact_id"), ("sender", "conversation_id")),
        {
            "reason": "erased on request",
            "goal": None,
            "preferred_time": None,
            "conversation_id": PSEUDONYM,
        },  # fmt: skip
        kept="kind, priority, status, dates: sales reporting",
    ),
    PersonalData(
        "lead_activities",
        (("lead", "lead_id"),),
        {"detail": ERASED_JSON},
        kept="who on the team did what and when",
    ),
    PersonalData("chat_replies", (("lead", "lead_id"), ("sender", "conversation_id")), delete=True),
    PersonalData(
        "outbox_messages",
        (("contact", "contact_id"),),
        {"payload": ERASED_JSON, "recipient": None},
        kept="kind, topic, status, dates: what was sent when",
    ),
    PersonalData(
        "crm_records",
        (("contact", "contact_id"),),
        {"properties": ERASED_JSON},
        kept="operation and time of each push",
    ),
    PersonalData(
        "data_subject_requests",
        (("contact", "contact_id"), ("sender", "sender_id")),
        {"sender_id": PSEUDONYM},
        kept="the request itself (kind, dates): proof the right was honoured",
    ),
    PersonalData("carts", (("sender", "conversation_id"),), delete=True),  # lines cascade
    PersonalData("identity_checks", (("contact", "contact_id"),), delete=True),
    # the review queue's masked messages and the trainers' labels on them (labels first: they
    # point at the items)
    PersonalData("training_labels", (("sender", "conversation_id"),), delete=True),
    PersonalData("training_items", (("sender", "conversation_id"),), delete=True),
    # custom-action answers kept for resent turns (a few hours): they may echo what was typed;
    # the erasure turn's own claim goes too, so its answer is never stored
    PersonalData("action_replays", (("sender", "sender_id"),), delete=True),
    PersonalData(
        "follow_ups",
        (("contact", "contact_id"),),
        kept="no personal columns; scheduled ones are cancelled by the withdrawal",
    ),
)
# Rasa's tracker events (the user's raw text, entities, slots): deleted by sender id.
TRACKER = PersonalData(RASA_EVENTS_TABLE, (("sender", "sender_id"),), delete=True)


def pseudonym(key: str, value: str) -> str:
    """A stable stand-in for an erased chat id: the same id always maps to the same value."""
    return "anon-" + hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class Person:
    """One person's row keys across the database (see `find_rows`)."""

    contact_ids: tuple[int, ...]
    senders: tuple[str, ...]
    conversation_ids: tuple[int, ...]
    lead_ids: tuple[int, ...]


def _tables():
    """Every backend table (the wiring imports every model; backend/bootstrap.py)."""
    bus.ensure_wired()
    return Base.metadata.tables


def find_rows(session: Session, *, contact_ids: Iterable[int], senders: Iterable[str]) -> Person:
    tables = _tables()
    contact_ids, senders = tuple(contact_ids), tuple(s for s in senders if s)
    conv, leads = tables["conversations"], tables["leads"]
    conversation_ids = tuple(
        session.execute(
            select(conv.c.id).where(
                or_(conv.c.contact_id.in_(contact_ids), conv.c.sender_id.in_(senders))
            )
        ).scalars()
    )
    lead_ids = tuple(
        session.execute(
            select(leads.c.id).where(
                or_(leads.c.contact_id.in_(contact_ids), leads.c.conversation_id.in_(senders))
            )
        ).scalars()
    )
    return Person(contact_ids, senders, conversation_ids, lead_ids)


def _where(table, spec: PersonalData, person: Person):
    values = {
        "id": person.contact_ids,
        "contact": person.contact_ids,
        "sender": person.senders,
        "conversation": person.conversation_ids,
        "lead": person.lead_ids,
    }
    return or_(*(table.c[column].in_(values[how]) for how, column in spec.by))


def rows(session: Session, *, person: Person, spec: PersonalData) -> list[dict]:
    """The person's rows of one registered table (for export)."""
    table = _table(session, spec.table)
    if table is None:
        return []
    return [
        dict(r._mapping) for r in session.execute(select(table).where(_where(table, spec, person)))
    ]


def _table(session: Session, name: str):
    if name in _tables():
        return _tables()[name]
    if not inspect(session.connection()).has_table(name):
        return None
    from sqlalchemy import MetaData, Table

    return Table(name, MetaData(), autoload_with=session.connection())


def erase_person(
    session: Session, *, person: Person, key: str, keep_tracker_of: str | None = None
) -> dict[str, int]:
    """Blank, pseudonymise or delete every registered column of the person's rows; returns
    rows touched per table. `keep_tracker_of`: Rasa re-saves the tracker of the chat in
    progress, so its rows go after the turn (contacts.service.finish_tracker_erasures)."""
    counts: dict[str, int] = {}
    for spec in (*PERSONAL_DATA, TRACKER):
        table = _table(session, spec.table)
        if table is None:
            continue
        if spec is TRACKER and keep_tracker_of is not None:
            senders = tuple(s for s in person.senders if s != keep_tracker_of)
            where = _where(table, spec, Person((), senders, (), ()))
        else:
            where = _where(table, spec, person)
        if spec.delete:
            counts[spec.table] = session.execute(delete(table).where(where)).rowcount or 0
            continue
        if not spec.erase:
            continue
        fixed = {c: v for c, v in spec.erase.items() if v is not PSEUDONYM}
        hashed = [c for c, v in spec.erase.items() if v is PSEUDONYM]
        ids = list(session.execute(select(table.c[_pk(table)]).where(where)).scalars())
        counts[spec.table] = len(ids)
        if not ids:
            continue
        pk = table.c[_pk(table)]
        if fixed:
            session.execute(update(table).where(pk.in_(ids)).values(**fixed))
        for column in hashed:
            values = session.execute(
                select(table.c[column]).where(pk.in_(ids), table.c[column].isnot(None)).distinct()
            ).scalars()
            for value in list(values):
                if value.startswith("anon-"):
                    continue
                session.execute(
                    update(table)
                    .where(pk.in_(ids), table.c[column] == value)
                    .values({column: pseudonym(key, value)})
                )
    session.flush()
    session.expire_all()  # ORM objects loaded before must not write old values back
    return counts


def _pk(table) -> str:
    return next(iter(table.primary_key.columns)).name


def scrub_storage(engine: Engine) -> dict:
    """After an erasure commits: SQLite copies the WAL back into the file and truncates it
    (with `secure_delete` on, freed space is zeroed), so erased values are not left on disk.
    Postgres: dead row versions go at the next VACUUM (see docs/data-protection.md)."""
    if engine.dialect.name != "sqlite":
        return {"dialect": engine.dialect.name}
    raw = engine.raw_connection()  # outside any transaction: a checkpoint cannot run in one
    try:
        cursor = raw.cursor()
        busy, log_frames, done = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        cursor.close()
    finally:
        raw.close()
    return {"dialect": "sqlite", "busy": busy, "log_frames": log_frames, "checkpointed": done}


# --- what a withdrawal means in each area ----------------------------------------------------

WithdrawHook = Callable[..., int]  # (session, *, contact_ids, purpose, channels) -> rows changed
_WITHDRAW_HOOKS: list[WithdrawHook] = []


def register_withdraw_hook(hook: WithdrawHook) -> WithdrawHook:
    if hook not in _WITHDRAW_HOOKS:
        _WITHDRAW_HOOKS.append(hook)
    return hook


def withdraw_hooks() -> list[WithdrawHook]:
    """The areas' hooks, registered by backend/bootstrap.py."""
    bus.ensure_wired()
    return list(_WITHDRAW_HOOKS)


def run_withdraw_hooks(
    session: Session, *, contact_ids: Iterable[int], purpose: str, channels: Iterable[str]
) -> int:
    ids, chans = tuple(contact_ids), tuple(channels)
    return sum(
        hook(session, contact_ids=ids, purpose=purpose, channels=chans) for hook in withdraw_hooks()
    )
