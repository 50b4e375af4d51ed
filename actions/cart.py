"""The chat cart: add, remove, show, empty (backend/orders/cart.py does the work)."""

from __future__ import annotations

import re

from actions import backend_link
from actions.common import BackendAction, entity, latest_text, sender

MAX_QUANTITY = 20
CHECKOUT_BUTTON = {"title": "Checkout", "payload": "/checkout"}
CART_BUTTONS = [CHECKOUT_BUTTON, {"title": "Empty my cart", "payload": "/empty_cart"}]


def add_to_cart_button(item: str, title: str = "Add to cart") -> dict:
    """A button that puts one of a product sku or bundle key in the cart."""
    return {"title": title, "payload": f'/add_to_cart{{"product":"{item}"}}'}


def _money(amount_minor: int, currency: str) -> str:
    from backend.money import format_minor

    return format_minor(amount_minor, currency)


def current_cart(tracker, *, extra: tuple = ()):
    """The chat's cart as it would be charged now (with `extra` items about to be added)."""
    from backend.orders import cart

    with backend_link.unit_of_work() as session:
        return cart.view(
            session,
            settings=backend_link.settings(),
            conversation_id=sender(tracker),
            extra=extra,
        )


def cart_text(view, *, heading: str = "Your cart:") -> str:
    if view.empty:
        return "Your cart is empty. Ask me for recommendations or about any product to add one."
    lines = [heading]
    lines += [
        f"• {line.quantity} × {line.name}: {_money(line.line_total_minor, view.currency)}"
        for line in view.lines
    ]
    if view.problem:
        lines.append(f"Heads up: {view.problem}")
    else:
        tax = f" (tax {_money(view.tax_minor, view.currency)})" if view.tax_minor else ""
        lines.append(f"Total: {_money(view.total_minor, view.currency)}{tax}.")
    return "\n".join(lines)


def _quantity(tracker) -> int | None:
    from actions.orders import parse_quantity

    value = entity(tracker, "quantity")
    return 1 if value is None else parse_quantity(value)


def _wanted(tracker) -> str | None:
    """What the customer named: the product entity, else "the bundle" they were offered."""
    named = entity(tracker, "product")
    if named:
        return str(named)
    if re.search(r"\bbundle\b", latest_text(tracker).lower()) and tracker.get_slot("bundle"):
        return tracker.get_slot("bundle")
    return None


def _ask_which(dispatcher, tracker, verb: str) -> list:
    options = tracker.get_slot("recommended") or []
    dispatcher.utter_message(
        text=f"Which product would you like to {verb}? Tap one or type its name.",
        buttons=[add_to_cart_button(o["sku"], o["name"]) for o in options] if verb == "add" else [],
    )
    return []


class AddToCart(BackendAction):
    def name(self) -> str:
        return "action_cart_add"

    async def act(self, dispatcher, tracker, domain):
        from actions.orders import resolve_item
        from backend.orders import cart
        from backend.orders.service import OrderError

        quantity = _quantity(tracker)
        if quantity is None or not 1 <= quantity <= MAX_QUANTITY:
            dispatcher.utter_message(text=f"Please give a number from 1 to {MAX_QUANTITY}.")
            return []
        wanted = _wanted(tracker)
        if not wanted:
            return _ask_which(dispatcher, tracker, "add")
        try:
            with backend_link.unit_of_work() as session:
                item = resolve_item(session, wanted)
                if item is None:
                    dispatcher.utter_message(text=f'I couldn\'t find "{wanted}" in our catalog.')
                    return []
                view = cart.add(
                    session,
                    settings=backend_link.settings(),
                    conversation_id=sender(tracker),
                    item=item,
                    quantity=quantity,
                )
        except OrderError as exc:
            dispatcher.utter_message(text=f"{exc} Your cart is unchanged.")
            return []
        dispatcher.utter_message(
            text=cart_text(view, heading="Added. Your cart now:"), buttons=CART_BUTTONS
        )
        return []


class RemoveFromCart(BackendAction):
    def name(self) -> str:
        return "action_cart_remove"

    async def act(self, dispatcher, tracker, domain):
        from backend.orders import cart
        from backend.orders.service import OrderError

        wanted = entity(tracker, "product") or latest_text(tracker)
        quantity = entity(tracker, "quantity")
        try:
            with backend_link.unit_of_work() as session:
                item = cart.find_line(session, conversation_id=sender(tracker), text=str(wanted))
                if item is None:
                    view = cart.view(
                        session, settings=backend_link.settings(), conversation_id=sender(tracker)
                    )
                    dispatcher.utter_message(
                        text="Which item should I take out? " + cart_text(view),
                        buttons=[
                            {
                                "title": f"Remove {line.name}"[:60],
                                "payload": f'/remove_from_cart{{"product":"{line.item}"}}',
                            }
                            for line in view.lines
                        ],
                    )
                    return []
                view = cart.remove(
                    session,
                    settings=backend_link.settings(),
                    conversation_id=sender(tracker),
                    item=item,
                    quantity=_quantity(tracker) if quantity is not None else None,
                )
        except OrderError as exc:
            dispatcher.utter_message(text=str(exc))
            return []
        dispatcher.utter_message(
            text=cart_text(view, heading="Done. Your cart now:"),
            buttons=CART_BUTTONS if not view.empty else [],
        )
        return []


class ShowCart(BackendAction):
    def name(self) -> str:
        return "action_cart_show"

    async def act(self, dispatcher, tracker, domain):
        view = current_cart(tracker)
        dispatcher.utter_message(
            text=cart_text(view), buttons=CART_BUTTONS if not view.empty else []
        )
        return []


class EmptyCart(BackendAction):
    def name(self) -> str:
        return "action_cart_empty"

    async def act(self, dispatcher, tracker, domain):
        from backend.orders import cart

        with backend_link.unit_of_work() as session:
            cart.empty(session, conversation_id=sender(tracker))
        dispatcher.utter_message(text="Your cart is empty now. Anything else I can help with?")
        return []
