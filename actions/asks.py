"""Questions the forms ask. Custom actions rather than `utter_ask_*` responses because
`rasa data validate --fail-on-warnings` counts form-only responses as unused."""

from __future__ import annotations

from abc import ABCMeta, abstractmethod

from rasa_sdk import Action

GOAL_QUESTION = "What would you like support with? Pick one or tell me in your own words."
GOAL_BUTTONS = [
    {"title": "Weight loss", "payload": '/choose_goal{"goal":"weight_loss"}'},
    {"title": "Blood pressure support", "payload": '/choose_goal{"goal":"blood_pressure"}'},
    {"title": "Blood sugar support", "payload": '/choose_goal{"goal":"diabetes"}'},
    {"title": "Anti-aging", "payload": '/choose_goal{"goal":"anti_aging"}'},
]


class _Ask(Action, metaclass=ABCMeta):
    """Abstract (not registered): each subclass sets `slot` and `text`."""

    text = ""

    @property
    @abstractmethod
    def slot(self) -> str:
        """The form slot this action asks for."""

    buttons: list[dict] = []

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text=self.text, buttons=list(self.buttons))
        return []


class AskGoal(_Ask):
    slot, text, buttons = "goal", GOAL_QUESTION, GOAL_BUTTONS


class AskName(_Ask):
    slot, text = "name", "What name should we use for you?"


class AskEmail(_Ask):
    slot, text = "email", "What's your email address?"


class AskPhone(_Ask):
    slot = "phone"
    text = "What's your phone number? Please include the country code if it isn't a local number."


class AskPreferredTime(_Ask):
    slot = "preferred_time"
    text = "When is a good time for our team to call you? (for example: weekdays after 5pm)"


class AskQuantity(_Ask):
    slot, text = "quantity", "How many would you like?"
    buttons = [{"title": str(n), "payload": f'/inform{{"quantity":"{n}"}}'} for n in (1, 2, 3)]
