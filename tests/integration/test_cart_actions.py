"""The cart's custom actions against a real migrated SQLite database with the sample catalog:
add (typed, by button, "the bundle"), show, remove, empty, and the checkout form ordering the
whole cart as ONE order."""

# ruff: noqa: F811 - the fixtures of test_actions.py are imported, then named as parameters

from __future__ import annotations

from rasa_sdk.events import SlotSet
from sqlalchemy import select

from actions import cart as cart_actions
from actions import orders, recommend
from backend.orders.models import CartLine, Order, OrderItem
from tests.integration.test_actions import (  # noqa: F401 - fixtures: `backend` (autouse), `db`
    DOMAIN,
    backend,
    consent_given,
    db,
    run,
    texts,
    tracker,
)


def _lines(db) -> list[tuple[str, int]]:
    db.expire_all()
    rows = db.execute(select(CartLine.item, CartLine.quantity).order_by(CartLine.id)).all()
    db.rollback()  # SQLite: release the read before the next action writes
    return [tuple(r) for r in rows]


async def test_add_by_name_by_button_and_the_offered_bundle(db):
    messages, _ = await run(
        cart_actions.AddToCart(),
        tracker(
            intent="add_to_cart",
            text="add 2 of the hibiscus tea",
            entities=[("product", "hibiscus tea"), ("quantity", "2")],
        ),
    )
    assert "2 × Hibiscus Herbal Tea" in texts(messages) and "Total: $" in texts(messages)
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/checkout", "/empty_cart"]
    await run(
        cart_actions.AddToCart(),
        tracker(intent="add_to_cart", text='/add_to_cart{"product":"BP-003"}',
                entities=[("product", "BP-003")]),
    )  # fmt: skip
    messages, _ = await run(
        cart_actions.AddToCart(),
        tracker(intent="add_to_cart", text="add the bundle too",
                slots={"bundle": "bundle:BP-001+BP-004"}),
    )  # fmt: skip
    assert "Bundle: Blood Pressure Support Kit + Hibiscus Herbal Tea" in texts(messages)
    assert _lines(db) == [("BP-004", 2), ("BP-003", 1), ("bundle:BP-001+BP-004", 1)]


async def test_unknown_product_too_many_and_no_stock_leave_the_cart_unchanged(db):
    for entities, answer in [
        ([("product", "unicorn dust")], 'couldn\'t find "unicorn dust"'),
        ([("product", "BP-004"), ("quantity", "50")], "number from 1 to 20"),
        ([("product", "WL-004"), ("quantity", "4")], "Only 3 left of Keto Electrolyte Powder"),
        ([("product", "WL-007")], "out of stock"),
    ]:
        messages, _ = await run(
            cart_actions.AddToCart(), tracker(intent="add_to_cart", entities=entities)
        )
        assert answer in texts(messages)
    assert _lines(db) == []
    messages, _ = await run(cart_actions.AddToCart(), tracker(intent="add_to_cart", text="add"))
    assert "Which product would you like to add?" in texts(messages)


async def test_show_remove_and_empty(db):
    messages, _ = await run(cart_actions.ShowCart(), tracker(intent="show_cart"))
    assert "Your cart is empty" in texts(messages)
    for sku, quantity in (("BP-004", "3"), ("BP-003", "1")):
        await run(
            cart_actions.AddToCart(),
            tracker(intent="add_to_cart", entities=[("product", sku), ("quantity", quantity)]),
        )
    messages, _ = await run(
        cart_actions.RemoveFromCart(),
        tracker(intent="remove_from_cart", text="take 1 hibiscus tea out",
                entities=[("product", "hibiscus tea"), ("quantity", "1")]),
    )  # fmt: skip
    assert "2 × Hibiscus Herbal Tea" in texts(messages)
    messages, _ = await run(
        cart_actions.RemoveFromCart(),
        tracker(intent="remove_from_cart", text="remove the vitamin c"),
    )
    assert "Which item should I take out?" in texts(messages)
    assert [b["payload"] for b in messages[0]["buttons"]] == [
        '/remove_from_cart{"product":"BP-004"}',
        '/remove_from_cart{"product":"BP-003"}',
    ]
    messages, _ = await run(cart_actions.ShowCart(), tracker(intent="show_cart"))
    assert "1 × Beetroot Nitric Oxide Powder" in texts(messages)
    await run(cart_actions.EmptyCart(), tracker(intent="empty_cart"))
    assert _lines(db) == []


async def test_checkout_of_a_filled_cart_asks_only_the_confirmation_and_places_one_order(
    db, backend
):
    form = orders.ValidateCheckoutForm()
    t = tracker(loop="checkout_form")
    slots = ["order_sku", "quantity", "order_confirmed"]
    assert await form.required_slots(slots, None, t, DOMAIN) == slots
    await run(
        cart_actions.AddToCart(),
        tracker(intent="add_to_cart", entities=[("product", "BP-004"), ("quantity", "2")]),
    )
    await run(
        cart_actions.AddToCart(),
        tracker(intent="add_to_cart", entities=[("product", "bundle:BP-001+BP-004")]),
    )
    assert await form.required_slots(slots, None, t, DOMAIN) == ["order_confirmed"]
    messages, _ = await run(orders.AskOrderConfirmed(), tracker(loop="checkout_form"))
    assert "2 × Hibiscus Herbal Tea" in texts(messages) and "Bundle:" in texts(messages)
    await consent_given()
    messages, events = await run(
        orders.PlaceOrder(), tracker(slots={"order_confirmed": True, "quantity": None})
    )
    assert "https://pay.test/" in texts(messages) and SlotSet("order_confirmed", None) in events
    assert len(backend.checkouts) == 1 and len(backend.checkouts[0].lines) == 2
    db.expire_all()
    assert len(db.execute(select(Order)).all()) == 1
    assert len(db.execute(select(OrderItem)).all()) == 2
    db.rollback()
    assert _lines(db) == []  # the cart became the order


async def test_product_answers_and_recommendations_offer_add_to_cart(db):
    messages, _ = await run(
        recommend.AnswerProduct(),
        tracker(intent="ask_product_question", text="how much is the hibiscus tea",
                entities=[("product", "hibiscus tea")]),
    )  # fmt: skip
    assert messages[0]["buttons"][0] == {
        "title": "Add to cart",
        "payload": '/add_to_cart{"product":"BP-004"}',
    }
