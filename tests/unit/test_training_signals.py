"""Which messages the review queue flags, from a conversation's events (pure, no database)."""

from __future__ import annotations

from backend.training import signals


def _user(text: str, ranking: list[tuple[str, float]], **parse) -> dict:
    return {
        "event": "user",
        "text": text,
        "message_id": text,
        "parse_data": {
            "intent": {"name": ranking[0][0], "confidence": ranking[0][1]},
            "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
            **parse,
        },
    }


def _found(events: list[dict]) -> dict[str, tuple[str, ...]]:
    found = signals.findings(list(enumerate(events)), low_confidence=0.5, min_margin=0.1)
    return {f.text: f.reasons for f in found}


def test_a_rephrase_needs_a_bot_answer_between_and_a_few_shared_words():
    assert signals.similar("do you ship to canada", "do you deliver to canada?")
    assert not signals.similar("yes", "yes")  # short replies repeat without meaning anything
    assert not signals.similar("do you ship to canada", "what about my order status then")
    said_twice = [
        _user("do you ship to canada", [("ask_product_question", 0.9)]),
        _user("do you deliver to canada", [("ask_product_question", 0.9)]),
    ]
    assert _found(said_twice) == {}  # no answer in between: a double send, not a rephrase
    answered = [said_twice[0], {"event": "bot", "text": "We sell supplements."}, said_twice[1]]
    assert _found(answered) == {"do you ship to canada": ("rephrased",)}


def test_buttons_and_sure_messages_are_never_flagged():
    events = [
        _user("/affirm", [("affirm", 1.0)]),
        _user("where is my parcel", [("order_status", 0.99), ("checkout", 0.01)]),
    ]
    assert _found(events) == {}


def test_the_fallback_entry_is_left_out_of_the_ranking_the_trainer_sees():
    events = [
        _user("wibble", [("nlu_fallback", 0.15), ("goodbye", 0.33), ("out_of_scope", 0.17)]),
        {"event": "action", "name": "action_core_fallback"},
    ]
    (finding,) = signals.findings(list(enumerate(events)), low_confidence=0.5, min_margin=0.1)
    assert finding.reasons == ("fallback", "low_confidence")
    assert (finding.predicted_intent, finding.confidence) == ("goodbye", 0.33)
    assert finding.score == signals.WEIGHTS["fallback"] + signals.WEIGHTS["low_confidence"]


def test_a_form_asking_again_after_an_other_slot_starts_counting_afresh():
    asked = [{"event": "slot", "name": "requested_slot", "value": v} for v in ("email", "phone")]
    events = [
        _user("jo at mail", [("inform", 0.9)]),
        asked[0],
        _user("jo at mail dot com", [("inform", 0.9)]),
        asked[0],
        _user("skip it", [("deny", 0.9)]),
        asked[1],
        _user("555", [("inform", 0.9)]),
        asked[0],
    ]
    assert _found(events) == {}  # email, email, phone, email: never three in a row
