"""Rasa custom actions: thin translators from slots to one backend call and back."""
