from rasa.shared.nlu.training_data.message import Message

from backend.rasa_ext.safety_net import SafetyNetClassifier


def _message(text: str, intent: str, confidence: float) -> Message:
    message = Message(data={"text": text})
    message.set("intent", {"name": intent, "confidence": confidence}, add_to_output=True)
    message.set("intent_ranking", [{"name": intent, "confidence": confidence}], add_to_output=True)
    return message


def test_emergency_and_medical_wording_override_a_wrong_classifier():
    net = SafetyNetClassifier()
    emergency, medical, ordinary, button = net.process(
        [
            _message("i think im having a stroke, face drooping", "affirm", 0.9),
            _message("can i take this with my metformin", "ask_product_question", 0.8),
            _message("how much is the collagen powder", "ask_product_question", 0.8),
            _message("/affirm", "affirm", 1.0),
        ]
    )
    assert emergency.get("intent") == {"name": "report_emergency", "confidence": 1.0}
    assert medical.get("intent")["name"] == "ask_medical_advice"
    # the classifier's own guess stays in the ranking, below the override
    assert [r["name"] for r in medical.get("intent_ranking")] == [
        "ask_medical_advice",
        "ask_product_question",
    ]
    assert medical.get("intent_ranking")[1]["confidence"] == 0.4
    assert ordinary.get("intent")["name"] == "ask_product_question"
    assert button.get("intent")["name"] == "affirm"


def _ranked(text: str, ranking: list[tuple[str, float]]) -> Message:
    message = Message(data={"text": text})
    top = {"name": ranking[0][0], "confidence": ranking[0][1]}
    message.set("intent", top, add_to_output=True)
    message.set(
        "intent_ranking", [{"name": n, "confidence": c} for n, c in ranking], add_to_output=True
    )
    return message


def test_classifier_emergency_without_evidence_falls_to_the_next_intent():
    """The logistic regression says report_emergency for ordinary long shopping messages."""
    text = (
        "Hi, I'm 45 and trying to get back in shape. I go to the gym twice a week but I'm "
        "tired all the time. What would you suggest?"
    )
    (message,) = SafetyNetClassifier().process(
        [
            _ranked(
                text,
                [
                    ("report_emergency", 0.97),
                    ("ask_medical_advice", 0.02),
                    ("browse_products", 0.01),
                ],
            )
        ]
    )
    assert message.get("intent") == {"name": "browse_products", "confidence": 0.01}
    assert message.get("intent_ranking")[0]["name"] == "browse_products"


def test_unsure_medical_guess_is_dropped_and_a_sure_one_kept():
    text = "my mum has diabetes, what do you have for energy? She's always worn out"
    net = SafetyNetClassifier()
    unsure, sure = net.process(
        [
            _ranked(text, [("ask_medical_advice", 0.5), ("browse_products", 0.4)]),
            _ranked("what should i do about it", [("ask_medical_advice", 0.95), ("inform", 0.05)]),
        ]
    )
    assert unsure.get("intent")["name"] == "browse_products"
    assert sure.get("intent")["name"] == "ask_medical_advice"


def test_net_decision_survives_a_saturated_ranking():
    """On 5,000 characters the classifier gives 1.0 to several intents at once."""
    text = "I want some vitamins for my family. " * 100 + "My husband just collapsed."
    (message,) = SafetyNetClassifier().process(
        [_ranked(text, [("browse_products", 1.0), ("report_emergency", 1.0)])]
    )
    ranking = message.get("intent_ranking")
    assert ranking[0] == {"name": "report_emergency", "confidence": 1.0}
    assert ranking[0]["confidence"] - ranking[1]["confidence"] >= 0.5


def test_an_override_is_noted_in_the_parse_output_for_the_review_queue():
    stroke, agreed = SafetyNetClassifier().process(
        [
            _message("i think im having a stroke, face drooping", "affirm", 0.9),
            _message("i think im having a stroke, face drooping", "report_emergency", 1.0),
        ]
    )
    assert stroke.as_dict(only_output_properties=True)["safety_net"] == {
        "from": "affirm",
        "to": "report_emergency",
    }
    assert "safety_net" not in agreed.as_dict(only_output_properties=True)  # no override
