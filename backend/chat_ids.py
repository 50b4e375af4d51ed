"""Website chat ids: issued by the backend, signed, checked by every website chat edge.

A website chat speaks only for the visitor whose id the website issued (DESIGN rule 8). The
backend issues `web-<uuid4>` with token = HMAC-SHA256(CHAT_ID_SECRET, id); the Rasa website
channels and the staff-replies endpoint accept an id only with its token, so a visitor can
neither pick another visitor's id nor speak as a WhatsApp/SMS number.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass

WEB_CHAT_ID = re.compile(r"web-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TOKEN = re.compile(r"[0-9a-f]{64}")
_CONTEXT = b"hts-web-chat-id:"  # a chat id's MAC can never be mistaken for another HMAC use


@dataclass(frozen=True)
class ChatId:
    sender: str
    token: str


def is_web_chat(sender: object) -> bool:
    """A chat id of the website widget ("web-" + a random UUID), not WhatsApp/SMS."""
    return isinstance(sender, str) and WEB_CHAT_ID.fullmatch(sender) is not None


def sign_chat_id(sender: str, *, secret: str) -> str:
    """The token that proves `sender` was issued by this shop's backend."""
    if not secret:
        raise ValueError("CHAT_ID_SECRET is not set")
    return hmac.new(secret.encode(), _CONTEXT + sender.encode(), hashlib.sha256).hexdigest()


def issue_chat_id(*, secret: str) -> ChatId:
    """A new website chat id and its token."""
    sender = f"web-{uuid.uuid4()}"
    return ChatId(sender=sender, token=sign_chat_id(sender, secret=secret))


def verify_chat_id(sender: object, token: object, *, secret: str) -> bool:
    """True only for a website chat id with its valid token (constant-time comparison)."""
    if not secret or not is_web_chat(sender) or not isinstance(token, str):
        return False
    if TOKEN.fullmatch(token) is None:
        return False
    return hmac.compare_digest(sign_chat_id(sender, secret=secret), token)
