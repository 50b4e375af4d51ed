"""Human takeover: while a person from the team has a chat, the bot stays quiet in it.

The pause is a flag on the backend conversation (`conversations.handed_off`), so it holds across
`rasa run` restarts and workers: Rasa's TakeoverPolicy (backend/rasa_ext/takeover_policy.py)
reads it on every user turn and, while it is set, runs `action_takeover_hold` instead of the
usual answer. Only the intents in PASS_THROUGH still get the bot's answer (emergency guidance and
the medical-advice answer first, always; an opt-out takes effect at once). The hold action says
"a person is on it" once per takeover (`hold_notice_at`), then nothing.

Rasa's own `ConversationPaused` is not used: a paused tracker runs no action at all, so an
emergency typed during a takeover would get no guidance.

Starts: the person asks for a human and staff can reach them (`hand_over`), or a staff member
takes the chat in the inbox or replies in it (backend/sales/inbox.py); each of these restarts the
takeover's idle clock (`conversations.handed_off_at`). Ends: the inbox's "hand back to the bot"
(`resume`), or TAKEOVER_IDLE_MINUTES without either (`idle_chats`, handed back by the
`takeover_timeout` job: inbox.release_idle). Functions flush, never commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.contacts import service as contacts
from backend.contacts.models import Conversation
from backend.db import utcnow
from backend.sales.models import Lead

log = logging.getLogger(__name__)

# What the bot still answers during a takeover: safety (the NLU safety gate sets these intents
# on the keyword net's evidence) and the opt-out, which must never wait for a person.
PASS_THROUGH = frozenset({"report_emergency", "ask_medical_advice", "opt_out"})


@dataclass(frozen=True)
class Handover:
    lead: Lead
    reachable: list[str]  # channels staff can reply on, best first (may be empty)
    paused: bool  # the bot stays quiet until the team hands the chat back


def is_paused(session: Session, *, sender_id: str) -> bool:
    """Whether a person from the team has this chat (the bot answers only PASS_THROUGH)."""
    return bool(
        session.execute(
            select(Conversation.handed_off).where(Conversation.sender_id == sender_id)
        ).scalar_one_or_none()
    )


def bot_may_answer(session: Session, *, sender_id: str, intent: str | None) -> bool:
    """The policy's question: may the bot answer this turn?"""
    return intent in PASS_THROUGH or not is_paused(session, sender_id=sender_id)


def pause(session: Session, *, sender_id: str, channel: str = "web") -> None:
    contacts.mark_conversation(session, sender_id=sender_id, channel=channel, handed_off=True)
    log.info("chat taken over", extra={"channel": channel})


def resume(session: Session, *, sender_id: str, only_if_paused: bool = False) -> bool:
    """The bot answers this chat again; the next takeover gets its own "a person is on it".

    With `only_if_paused` it is a compare-and-set: True only for the one caller that ended the
    takeover (two schedulers never both tell the customer)."""
    statement = update(Conversation).where(Conversation.sender_id == sender_id)
    if only_if_paused:
        statement = statement.where(Conversation.handed_off.is_(True))
    result = session.execute(
        statement.values(handed_off=False, hold_notice_at=None, handed_off_at=None)
    )
    return result.rowcount > 0


def idle_chats(session: Session, *, since: datetime, limit: int = 200) -> list[str]:
    """Chats the team has had since before `since` without taking or answering them again."""
    return list(
        session.execute(
            select(Conversation.sender_id)
            .where(Conversation.handed_off.is_(True), Conversation.handed_off_at < since)
            .order_by(Conversation.handed_off_at)
            .limit(limit)
        ).scalars()
    )


def hold_notice_due(session: Session, *, sender_id: str, now: datetime | None = None) -> bool:
    """True once per takeover: the first held message gets "a person is on it".

    A compare-and-set, so two workers holding two quick messages still say it once.
    """
    result = session.execute(
        update(Conversation)
        .where(
            Conversation.sender_id == sender_id,
            Conversation.handed_off.is_(True),
            Conversation.hold_notice_at.is_(None),
        )
        .values(hold_notice_at=now or utcnow())
    )
    return result.rowcount == 1


def hand_over(
    session: Session, *, settings: Settings, sender_id: str, channel: str, reason: str
) -> Handover:
    """The person asked for a human: a handoff lead, and the bot pauses when staff can reply
    in this very chat (the website chat's window, or the WhatsApp chat itself).

    When the team can reach the person only elsewhere (email, SMS) or not at all, the bot keeps
    answering: a pause would leave them talking to nobody.
    """
    from backend.sales import inbox
    from backend.sales.service import request_handoff

    reachable = inbox.reply_channels(session, settings=settings, sender_id=sender_id)
    here = {"web": inbox.CHAT, "whatsapp": "whatsapp"}[
        inbox.chat_channel(session, sender_id=sender_id)
    ]
    paused = here in reachable
    lead = request_handoff(
        session, sender_id=sender_id, channel=channel, reason=reason, pause=paused
    )
    return Handover(lead, reachable, paused)
