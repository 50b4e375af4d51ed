"""Language detection: other languages and emoji-only messages, English (with names) left alone."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from backend import language
from backend.rasa_ext.language import LanguageClassifier


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hola, quiero perder peso", language.OTHER),
        ("¿Tienen algo para la presión arterial?", language.OTHER),
        ("Bonjour, je voudrais des vitamines pour ma mère", language.OTHER),
        ("Ich möchte abnehmen, was können Sie empfehlen?", language.OTHER),
        ("Olá, vocês entregam em Portugal?", language.OTHER),
        ("Привет, мне нужны витамины", language.OTHER),
        ("你好，我想减肥", language.OTHER),
        ("gracias", language.OTHER),
        ("😀😀", language.EMOJI),
        ("🙏❤️", language.EMOJI),
        ("Zbigniew Brzęczyszczykiewicz", language.ENGLISH),
        ("José María", language.ENGLISH),
        ("+44 7700 900123", language.ENGLISH),
        ("3", language.ENGLISH),
        ("wieght loss pls", language.ENGLISH),
        ("Hi, do you have the collagen in a bigger tub?", language.ENGLISH),
        ("/choose_goal", language.ENGLISH),
        ("", language.ENGLISH),
    ],
)
def test_detect(text, expected):
    assert language.detect(text) == expected


def _message(text: str, intent: str, confidence: float) -> Message:
    message = Message(data={"text": text})
    message.set("intent", {"name": intent, "confidence": confidence}, add_to_output=True)
    message.set("intent_ranking", [{"name": intent, "confidence": confidence}], add_to_output=True)
    return message


def test_component_sets_out_of_language_but_keeps_safety_and_meaningful_emoji():
    spanish, emoji, thumbs, english, safety = LanguageClassifier().process(
        [
            _message("hola, quiero perder peso por favor", "out_of_scope", 0.6),
            _message("😀😀", "out_of_scope", 0.4),
            _message("👍", "affirm", 0.9),
            _message("I want to lose weight", "choose_goal", 0.9),
            _message("Привет, chest pain", "report_emergency", 1.0),
        ]
    )
    assert spanish.get("intent") == {"name": "out_of_language", "confidence": 1.0}
    assert spanish.get("language") == language.OTHER
    assert emoji.get("intent")["name"] == "out_of_language"
    assert thumbs.get("intent")["name"] == "affirm"
    assert english.get("intent")["name"] == "choose_goal"
    assert english.get("language") == language.ENGLISH
    assert safety.get("intent")["name"] == "report_emergency"
