"""How a team alert reaches the team: a Slack incoming webhook, a Microsoft Teams incoming
webhook (an Adaptive Card, which Teams workflows and the older connectors both accept), or the
team mailbox through the shop's email sender (SendGrid, or the local outbox record).

Every webhook POST goes through `post_webhook`: JSON body, timeouts, and the shared HTTP error
mapping (backend/integrations.py): 401/403 and other 4xx permanent, 429 after Retry-After, 5xx
and network errors temporary. The webhook URL is a secret (it carries the token): it is never
part of an error message or a log line.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import requests

from backend.integrations import IntegrationError, raise_for_status
from backend.logging_setup import redact_text
from backend.messaging.adapters import MessageSender
from backend.messaging.gate import Outgoing

DEFAULT_RETRY = timedelta(seconds=30)
EMOJI = {"urgent": ":rotating_light:", "critical": ":rotating_light:", "high": ":warning:"}


@dataclass(frozen=True)
class AlertText:
    """What an alert says: no customer data, only kind, priority, a title and a link."""

    kind: str
    priority: str
    title: str
    link: str

    @property
    def line(self) -> str:
        return f"[{self.priority}] {self.title}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


class AlertTransport(abc.ABC):
    name: str

    @abc.abstractmethod
    def send(self, alert: AlertText, *, ref: str) -> str:
        """Deliver one alert; returns a reference for the outbox row."""


def _reason(response: requests.Response) -> str:
    # Slack answers text/plain codes ("invalid_payload", "no_service"); Teams a short sentence
    return redact_text((response.text or response.reason or "request rejected").strip())[:120]


def post_webhook(
    http: requests.Session,
    service: str,
    url: str,
    body: dict,
    *,
    timeout: tuple[float, float],
    clock: Callable[[], datetime],
) -> requests.Response:
    try:
        response = http.post(url, json=body, timeout=timeout)
    except requests.Timeout:
        raise IntegrationError(f"{service}: timed out") from None
    except requests.RequestException as exc:
        raise IntegrationError(f"{service}: connection failed ({type(exc).__name__})") from None
    raise_for_status(service, response, now=clock(), default_retry=DEFAULT_RETRY, message=_reason)
    return response


class _Webhook(AlertTransport):
    def __init__(
        self,
        url: str,
        *,
        http: requests.Session | None = None,
        timeout: tuple[float, float] = (5.0, 15.0),
        clock: Callable[[], datetime] = _now,
    ):
        self._url = url
        self.http = http or requests.Session()
        self.timeout = timeout
        self.clock = clock

    @abc.abstractmethod
    def body(self, alert: AlertText) -> dict: ...

    def send(self, alert: AlertText, *, ref: str) -> str:
        post_webhook(self.http, self.name, self._url, self.body(alert), timeout=self.timeout,
                     clock=self.clock)  # fmt: skip
        return f"{self.name}:{ref}"


class SlackWebhook(_Webhook):
    """Slack incoming webhook: `text` (the notification line) plus Block Kit blocks."""

    name = "slack"

    def body(self, alert: AlertText) -> dict:
        mark = EMOJI.get(alert.priority, ":bell:")
        return {
            "text": f"{alert.line}: {alert.link}",
            "blocks": [
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": f"{mark} *{alert.title}*"},
                    "fields": [
                        {"type": "mrkdwn", "text": f"*Priority*\n{alert.priority}"},
                        {"type": "mrkdwn", "text": f"*Alert*\n{alert.kind}"},
                    ],
                },
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "Open in the dashboard"},
                            "url": alert.link,
                        }
                    ],
                },
            ],
        }


class TeamsWebhook(_Webhook):
    """Microsoft Teams incoming webhook / workflow: a message with one Adaptive Card."""

    name = "teams"

    def body(self, alert: AlertText) -> dict:
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "text": alert.title, "weight": "Bolder", "size": "Medium",
                 "wrap": True},
                {"type": "FactSet", "facts": [
                    {"title": "Priority", "value": alert.priority},
                    {"title": "Alert", "value": alert.kind},
                ]},
            ],
            "actions": [
                {"type": "Action.OpenUrl", "title": "Open in the dashboard", "url": alert.link}
            ],
        }  # fmt: skip
        return {
            "type": "message",
            "summary": alert.line,
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": None,
                    "content": card,
                }
            ],
        }


class TeamMailbox(AlertTransport):
    """The team mailbox, through the shop's email sender (no consent gate: staff, not
    customers, and no customer data in the text)."""

    name = "email"

    def __init__(self, address: str, sender: MessageSender):
        self.address = address
        self.sender = sender

    def send(self, alert: AlertText, *, ref: str) -> str:
        body = f"{alert.title}\n\nPriority: {alert.priority}\nAlert: {alert.kind}\n\n{alert.link}\n"
        outgoing = Outgoing(channel="email", to=self.address, subject=alert.line, body=body)
        return self.sender.send(outgoing, ref=ref)
