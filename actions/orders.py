"""Checkout form (product, quantity, confirmation) → ONE payment link for the chat's cart;
order status. With items in the cart the form only asks for the confirmation."""

from __future__ import annotations

import re

from rasa_sdk import Action, FormValidationAction
from rasa_sdk.events import SlotSet

from actions import backend_link
from actions.common import BackendAction, clear_yes, sender

MAX_QUANTITY = 20
_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "a": 1,
    "an": 1,
    "a couple": 2,
    "couple": 2,
}


def parse_quantity(value) -> int | None:
    text = str(value).strip().lower()
    found = re.search(r"\d+", text)
    if found:
        return int(found.group(0))
    for word, number in sorted(_WORDS.items(), key=lambda kv: -len(kv[0])):
        if re.search(rf"\b{word}\b", text):
            return number
    return None


def resolve_item(session, wanted: str) -> str | None:
    """A product sku or bundle key for what the customer named (sku, bundle key or a name)."""
    from backend.catalog import service as catalog
    from backend.orders.service import bundle_skus

    wanted = str(wanted).strip()
    if bundle_skus(wanted):
        return wanted
    product = catalog.get_by_sku(session, wanted.upper()) or next(
        iter(catalog.search_products(session, text=wanted, limit=1)), None
    )
    return product.sku if product is not None and product.active else None


def _cart_has_items(tracker) -> bool:
    from actions.cart import current_cart

    return not current_cart(tracker).empty


def _money(amount_minor: int, currency: str) -> str:
    from backend.money import format_minor

    return format_minor(amount_minor, currency)


class ValidateCheckoutForm(FormValidationAction):
    def name(self) -> str:
        return "validate_checkout_form"

    async def required_slots(self, domain_slots, dispatcher, tracker, domain):
        # a filled cart is what is ordered: only the confirmation is asked
        if not tracker.get_slot("order_sku") and _cart_has_items(tracker):
            return ["order_confirmed"]
        return domain_slots

    async def validate_order_sku(self, value, dispatcher, tracker, domain):
        wanted = str(value).strip()
        with backend_link.unit_of_work() as session:
            found = resolve_item(session, wanted)
        if found is None:
            dispatcher.utter_message(text=f'I couldn\'t find "{wanted}" in our catalog.')
            return {"order_sku": None}
        return {"order_sku": found}

    async def validate_quantity(self, value, dispatcher, tracker, domain):
        from backend.orders.service import OrderError, quote

        quantity = parse_quantity(value)
        if quantity is None or not 1 <= quantity <= MAX_QUANTITY:
            dispatcher.utter_message(text=f"Please give a number from 1 to {MAX_QUANTITY}.")
            return {"quantity": None}
        try:
            with backend_link.unit_of_work() as session:
                quote(
                    session,
                    settings=backend_link.settings(),
                    items=[(tracker.get_slot("order_sku"), quantity)],
                )
        except OrderError as exc:
            dispatcher.utter_message(text=str(exc))
            return {"quantity": None}
        return {"quantity": quantity}

    async def validate_order_confirmed(self, value, dispatcher, tracker, domain):
        if value and not clear_yes(dispatcher, tracker):
            return {"order_confirmed": None}
        return {"order_confirmed": bool(value)}


class AskOrderSku(Action):
    def name(self) -> str:
        return "action_ask_order_sku"

    async def run(self, dispatcher, tracker, domain):
        options = tracker.get_slot("recommended") or []
        dispatcher.utter_message(
            text="Which product would you like to order? Tap one or type its name.",
            buttons=[
                {"title": o["name"], "payload": f'/inform{{"product":"{o["sku"]}"}}'}
                for o in options
            ],
        )
        return []


class AskOrderConfirmed(BackendAction):
    def name(self) -> str:
        return "action_ask_order_confirmed"

    async def act(self, dispatcher, tracker, domain):
        from actions.cart import cart_text, current_cart

        sku = tracker.get_slot("order_sku")
        view = current_cart(
            tracker, extra=((sku, int(tracker.get_slot("quantity") or 1)),) if sku else ()
        )
        email = tracker.get_slot("email")
        receipt = (
            f" The receipt goes to {email}."
            if email and "@" in email
            else " The payment page will ask where to send your receipt."
        )
        dispatcher.utter_message(
            text=f"{cart_text(view, heading='Your order:')}{receipt} Shall I create your secure "
            "payment link for all of it?",
            buttons=[
                {"title": "Yes, continue", "payload": "/affirm"},
                {"title": "No, cancel", "payload": "/deny"},
            ],
        )
        return []


_RESET = [SlotSet("order_sku", None), SlotSet("quantity", None), SlotSet("order_confirmed", None)]


class PlaceOrder(BackendAction):
    def name(self) -> str:
        return "action_place_order"

    async def act(self, dispatcher, tracker, domain):
        from backend.orders.service import OrderError
        from backend.sales import service as sales

        if not tracker.get_slot("order_confirmed"):
            dispatcher.utter_message(text="OK, I haven't ordered anything. Anything else?")
            return _RESET
        try:
            with backend_link.unit_of_work() as session:
                placed = sales.checkout_from_chat(
                    session,
                    settings=backend_link.settings(),
                    payments=backend_link.payments(),
                    sender_id=sender(tracker),
                    sku=tracker.get_slot("order_sku"),
                    quantity=int(tracker.get_slot("quantity") or 1),
                )
        except OrderError as exc:
            dispatcher.utter_message(text=str(exc))
            return _RESET
        expires = placed.expires_at.strftime("%H:%M UTC")
        dispatcher.utter_message(
            text=f"Your order is reserved: total {_money(placed.total_minor, placed.currency)}. "
            f"Pay securely here (link valid until {expires}): {placed.payment_url}\n"
            "We never ask for card details in the chat.",
        )
        return _RESET


class OrderStatus(BackendAction):
    def name(self) -> str:
        return "action_order_status"

    async def act(self, dispatcher, tracker, domain):
        from backend.orders.service import order_status

        with backend_link.unit_of_work() as session:
            views = order_status(session, conversation_id=sender(tracker))
        if not views:
            dispatcher.utter_message(text="I can't find any orders from this chat.")
            return []
        lines = [
            f"• Order {v.public_id[:8]}: {v.status_text} ({_money(v.total_minor, v.currency)})"
            for v in views[:5]
        ]
        dispatcher.utter_message(text="Your orders:\n" + "\n".join(lines))
        return []
