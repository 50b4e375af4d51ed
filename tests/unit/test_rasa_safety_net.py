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
    assert ordinary.get("intent")["name"] == "ask_product_question"
    assert button.get("intent")["name"] == "affirm"
