"""What was said in a lead's chat, for the team that answers it.

Read from Rasa's SQL tracker store (the `events` table, in the backend's database by default)
plus the team's own replies in the web chat window (`chat_replies`), oldest first. Email
addresses and phone numbers are masked: a person may type them before agreeing to anything,
and the details they did agree to are on the lead's contact already. Button taps are shown as
what they asked for ("tapped: affirm"), not as payloads.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import tracker_events
from backend.auth.models import StaffUser
from backend.auth.service import log_access
from backend.db import aware
from backend.logging_setup import redact_text
from backend.sales.models import ChatReply, Lead

MAX_MESSAGES = 80


def read_for_staff(
    session: Session, *, lead_id: int, reader: StaffUser
) -> tuple[Lead, list[dict]] | None:
    """The lead and its conversation, the read written to the access log; None: no such lead."""
    lead = session.get(Lead, lead_id)
    if lead is None:
        return None
    log_access(
        session, actor=reader.email, role=reader.role, action="read_lead_conversation",
        resource=f"lead {lead_id}",
    )  # fmt: skip
    return lead, conversation(session, conversation_id=lead.conversation_id)


def conversation(
    session: Session, *, conversation_id: str | None, limit: int = MAX_MESSAGES
) -> list[dict]:
    """The chat's last `limit` messages: {"at", "who" (customer|bot|team), "text"}; the team's
    chat-window replies also carry "seen": when the window first showed them, or None."""
    if not conversation_id:
        return []  # erased, or a lead staff created
    messages = _tracker_messages(session, conversation_id, limit)
    for reply in session.execute(
        select(ChatReply).where(ChatReply.conversation_id == conversation_id)
    ).scalars():
        seen = aware(reply.fetched_at).isoformat(timespec="seconds") if reply.fetched_at else None
        messages.append(
            {"at": aware(reply.created_at), "who": "team", "text": reply.body, "seen": seen}
        )
    messages.sort(key=lambda m: m["at"])
    return [
        {
            "at": m["at"].isoformat(timespec="seconds"),
            "who": m["who"],
            "text": redact_text(m["text"]),
            **({"seen": m["seen"]} if "seen" in m else {}),
        }
        for m in messages[-limit:]
    ]


def _tracker_messages(session: Session, conversation_id: str, limit: int) -> list[dict]:
    out = []  # empty when Rasa's tracker store lives in another database
    for data in tracker_events.recent_messages(session, sender_id=conversation_id, limit=limit):
        said = (data.get("text") or "").strip()
        if not said:
            continue
        if data.get("event") == "user":
            who = "customer"
            if said.startswith("/"):  # a button: its intent, without the payload's entities
                said = f"tapped: {said[1:].split('{', 1)[0]}"
        else:
            who = "bot"
        at = datetime.fromtimestamp(float(data.get("timestamp") or 0), tz=timezone.utc)
        out.append({"at": at, "who": who, "text": said})
    return out
