"""Rasa custom actions: thin translators from slots to one backend call and back."""

from backend.logging_setup import install_record_redaction


def _secrets() -> list[str]:
    try:
        from backend.config import get_settings

        return get_settings().secret_values()
    except Exception:  # noqa: BLE001 - a bad setting is reported by the first action that needs it
        return []


# The action server's log handlers belong to rasa-sdk: redact at record creation instead, so no
# email, phone number or secret in a message or traceback reaches its log.
install_record_redaction(_secrets())
