"""Handing a conversation back to the bot: Rasa's HTTP API, behind a small adapter.

`RasaHttp.resume` appends `{"event": "resume"}` to the conversation's tracker
(`POST {RASA_URL}/conversations/{id}/tracker/events?token=RASA_TOKEN`), which ends a paused
conversation so the bot answers the customer again. `rasa run --enable-api --auth-token` must
be running (the supervisor starts it so when RASA_TOKEN is set).

Errors: an empty RASA_TOKEN → `HandbackNotConfigured`; 401/403 → permanent "token rejected";
404/400 → permanent with Rasa's message; 5xx, timeouts, connection errors → temporary.
The token travels in the query string (Rasa's only way): it never reaches logs or messages.
"""

from __future__ import annotations

import abc
from urllib.parse import quote

import requests

from backend.config import Settings
from backend.integrations import IntegrationError

RESUME_EVENT = {"event": "resume"}


class HandbackNotConfigured(IntegrationError):
    """RASA_TOKEN is empty: the backend cannot call Rasa's HTTP API."""

    def __init__(self) -> None:
        super().__init__(
            "Rasa API not configured: set RASA_TOKEN (and RASA_URL) to hand conversations "
            "back to the bot",
            permanent=True,
        )


class BotHandback(abc.ABC):
    """Where "hand back to the bot" goes."""

    @abc.abstractmethod
    def resume(self, conversation_id: str) -> None:
        """Let the bot answer this conversation again; IntegrationError if that failed."""


class RasaHttp(BotHandback):
    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        timeout: tuple[float, float] = (3.0, 10.0),
        http: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.http = http or requests.Session()

    def events_url(self, conversation_id: str) -> str:
        # sender ids such as "whatsapp:+14155550123" are one path segment
        return f"{self.base_url}/conversations/{quote(conversation_id, safe='')}/tracker/events"

    def resume(self, conversation_id: str) -> None:
        if not self.token:
            raise HandbackNotConfigured()
        try:
            response = self.http.post(
                self.events_url(conversation_id),
                params={"token": self.token},
                json=RESUME_EVENT,
                timeout=self.timeout,
            )
        except requests.Timeout:
            raise IntegrationError("Rasa did not answer in time") from None
        except requests.RequestException:
            raise IntegrationError("Rasa is unreachable") from None
        if response.status_code in (401, 403):
            raise IntegrationError("Rasa rejected RASA_TOKEN", permanent=True)
        if response.status_code >= 500:
            raise IntegrationError(f"Rasa answered {response.status_code}")
        if response.status_code >= 400:
            raise IntegrationError(
                f"Rasa refused the request ({response.status_code}): {_rasa_message(response)}",
                permanent=True,
            )


class FakeHandback(BotHandback):
    """Records the conversations resumed (tests)."""

    def __init__(self, error: IntegrationError | None = None) -> None:
        self.resumed: list[str] = []
        self.error = error

    def resume(self, conversation_id: str) -> None:
        if self.error is not None:
            raise self.error
        self.resumed.append(conversation_id)


def handback_for(settings: Settings) -> BotHandback:
    """Rasa's HTTP API (its `resume` raises HandbackNotConfigured while RASA_TOKEN is empty)."""
    return RasaHttp(base_url=settings.rasa_url, token=settings.rasa_token)


def _rasa_message(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return "no details"
    message = data.get("message") if isinstance(data, dict) else None
    return str(message)[:200] if message else "no details"
