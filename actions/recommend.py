"""Recommendations, product answers from catalog data, browsing and trends."""

from __future__ import annotations

import json

from rasa_sdk.events import SlotSet

from actions import backend_link
from actions.asks import GOAL_BUTTONS, GOAL_QUESTION
from actions.cart import add_to_cart_button
from actions.common import (
    CTA_BUTTONS,
    BackendAction,
    entity,
    latest_intent,
    latest_text,
    safety_check,
    sender,
)
from actions.consent import GOALS


def _stock_text(stock: int, low: bool) -> str:
    if stock <= 0:
        return "out of stock"
    return f"only {stock} left" if low else "in stock"


def bundle_discount() -> int:
    return backend_link.settings().bundle_discount_percent


def _price(amount_minor: int, currency: str) -> str:
    from backend.money import format_minor

    return format_minor(amount_minor, currency)


def _card(product, *, base_url: str) -> dict:
    """One product as a card: the website widget shows it with its picture and own buttons,
    WhatsApp gets the picture as a media message (backend/rasa_ext/channels/twilio_signed.py).
    "Add to cart" carries the sku (`/add_to_cart{"product": …}`, the cart's intent)."""
    from backend.catalog.service import image_url

    return {
        "sku": product.sku,
        "name": product.name,
        "price": _price(product.price_minor, product.currency),
        "stock": _stock_text(product.stock, product.low_stock),
        "in_stock": product.stock > 0,
        "why": product.why,
        "image_url": image_url(product.image, base_url=base_url),
        "buttons": [
            add_to_cart_button(product.sku),
            {
                "title": "Ask a question",
                "payload": "/ask_product_question" + json.dumps({"product": product.sku}),
            },
        ],
    }


class Recommend(BackendAction):
    def name(self) -> str:
        return "action_recommend"

    async def act(self, dispatcher, tracker, domain):
        from backend.chat_ids import is_web_chat
        from backend.config import get_settings
        from backend.contacts.service import show_recommendations

        if safety_check(dispatcher, tracker):
            return []
        goal = entity(tracker, "goal") or tracker.get_slot("goal")
        if latest_intent(tracker) == "choose_goal" and not entity(tracker, "goal"):
            goal = None  # "actually I meant ..." without a goal we know: never the old picks
        if goal not in GOALS:
            if tracker.active_loop_name:
                # the onboarding form asks the goal question right after this (once, not twice)
                dispatcher.utter_message(text="Sorry, I didn't catch which goal you mean.")
            else:
                dispatcher.utter_message(text=GOAL_QUESTION, buttons=GOAL_BUTTONS)
            return []
        with backend_link.unit_of_work() as session:
            rec = show_recommendations(session, sender_id=sender(tracker), goal=goal)
        if not rec.products:
            dispatcher.utter_message(
                text="I don't have products for that goal in our catalog right now. "
                "Would you like to talk to a person?",
                buttons=[{"title": "Talk to a person", "payload": "/request_human"}],
            )
            return []
        lines = [f"Here's what matches {rec.goal_label} right now:"]
        for p in rec.products:
            lines.append(
                f"• {p.name} ({p.sku}): {_price(p.price_minor, p.currency)}, "
                f"{_stock_text(p.stock, p.low_stock)}. Why: {p.why}"
            )
        buttons = list(CTA_BUTTONS)
        bundle = None
        if rec.bundle_name:
            from backend.orders.service import bundle_key

            bundle = bundle_key(rec.bundle_skus)
            lines.append(
                f"Bundle idea: {rec.bundle_name} ({', '.join(rec.bundle_skus)}), "
                f"{bundle_discount()}% off together."
            )
            buttons.insert(0, add_to_cart_button(bundle, "Add the bundle to cart"))
        if rec.trending_topics:
            lines.append(f"Trending now: {', '.join(rec.trending_topics[:3])}.")
        lines.append(rec.disclaimer)
        dispatcher.utter_message(text="\n".join(lines), buttons=buttons)
        chat = sender(tracker)
        # the widget draws cards, the signed WhatsApp channel sends their pictures; other
        # channels would send a custom payload as JSON text, so they get the text alone
        if is_web_chat(chat) or chat.startswith("whatsapp:"):
            base_url = get_settings().public_base_url
            cards = [_card(p, base_url=base_url) for p in rec.products]
            dispatcher.utter_message(json_message={"cards": cards})
        recommended = [{"sku": p.sku, "name": p.name} for p in rec.products]
        return [SlotSet("recommended", recommended), SlotSet("bundle", bundle)]


def _answer(product, question: str) -> str:
    from backend.trends.recommend import product_disclaimer

    q = question.lower()
    price = _price(product.price_minor, product.currency)
    stock = _stock_text(product.stock, 0 < product.stock <= 5)
    parts = []
    if "ingredient" in q or "contain" in q or "what's in" in q or "what is in" in q:
        parts.append(f"Ingredients: {', '.join(product.ingredients or []) or 'not listed'}.")
    if any(w in q for w in ("use", "take it", "directions", "when")):
        parts.append(f"Usage: {product.usage or 'see the label'}.")
    if any(w in q for w in ("price", "cost", "how much", "$")):
        parts.append(f"Price: {price}.")
    if any(w in q for w in ("stock", "available", "availability", "left")):
        parts.append(f"Stock: {stock}.")
    if not parts:  # no specific question: the catalog facts, nothing invented
        parts = [
            product.description or "",
            f"Ingredients: {', '.join(product.ingredients or []) or 'not listed'}.",
            f"Usage: {product.usage or 'see the label'}.",
            f"Price: {price}, {stock}.",
        ]
    body = " ".join(p for p in parts if p)
    return f"{product.name} ({product.sku}): {body}\n{product_disclaimer(product)}"


class AnswerProduct(BackendAction):
    def name(self) -> str:
        return "action_answer_product"

    async def act(self, dispatcher, tracker, domain):
        from backend.catalog import service as catalog
        from backend.contacts.service import record_interaction

        if safety_check(dispatcher, tracker):
            return []
        wanted = entity(tracker, "product") or tracker.get_slot("product")
        if not wanted:
            options = tracker.get_slot("recommended") or []
            dispatcher.utter_message(
                text="Which product would you like to know about? I can tell you its "
                "ingredients, usage, price and stock.",
                buttons=[
                    {
                        "title": o["name"],
                        "payload": f'/ask_product_question{{"product":"{o["sku"]}"}}',
                    }
                    for o in options
                ],
            )
            return []
        with backend_link.unit_of_work() as session:
            product = catalog.get_by_sku(session, str(wanted).upper()) or next(
                iter(catalog.search_products(session, text=str(wanted), limit=1)), None
            )
            if product is not None:
                record_interaction(
                    session,
                    sender_id=sender(tracker),
                    kind="cta",
                    detail={"cta": "ask_question", "sku": product.sku},
                )
                answer = _answer(product, latest_text(tracker))
        if product is None:
            dispatcher.utter_message(
                text=f"I couldn't find \"{wanted}\" in our catalog, so I won't guess. "
                "Try another name, or ask to browse products."
            )
            return [SlotSet("product", None)]
        dispatcher.utter_message(
            text=answer, buttons=[add_to_cart_button(product.sku), *CTA_BUTTONS]
        )
        return [SlotSet("product", product.sku)]


class BrowseProducts(BackendAction):
    def name(self) -> str:
        return "action_browse_products"

    async def act(self, dispatcher, tracker, domain):
        from backend.catalog import service as catalog

        if safety_check(dispatcher, tracker):
            return []
        goal = entity(tracker, "goal")
        text = entity(tracker, "product") or latest_text(tracker)
        with backend_link.unit_of_work() as session:
            if goal:
                products = catalog.products_for_goal(session, goal=goal, limit=5)
            else:
                products = catalog.search_products(session, text=text, limit=5) if text else []
            rows = [(p.name, p.sku, _price(p.price_minor, p.currency)) for p in products]
        if not rows:
            dispatcher.utter_message(text="Which area are you interested in?", buttons=GOAL_BUTTONS)
            return []
        listing = "\n".join(f"• {name} ({sku}): {price}" for name, sku, price in rows)
        dispatcher.utter_message(
            text=f"Here are some products:\n{listing}\nAsk me about any of them for "
            "ingredients, usage or stock. General information only, not medical advice.",
            buttons=CTA_BUTTONS,
        )
        return []


class ShowTrending(BackendAction):
    def name(self) -> str:
        return "action_show_trending"

    async def act(self, dispatcher, tracker, domain):
        from backend.trends.recommend import trending_for_goal

        goal = entity(tracker, "goal") or tracker.get_slot("goal")
        with backend_link.unit_of_work() as session:
            topics = trending_for_goal(session, goal=goal, limit=5)
        if not topics:
            dispatcher.utter_message(
                text="I don't have fresh trend data right now. Want product suggestions instead?",
                buttons=GOAL_BUTTONS,
            )
            return []
        listing = "\n".join(f"• {t['topic']} ({t['source']})" for t in topics)
        dispatcher.utter_message(
            text=f"Trending in wellness right now:\n{listing}\nWant products that match one of "
            "these goals?",
            buttons=GOAL_BUTTONS,
        )
        return []
