"""Rasa input channels of our own, loaded by `rasa run` from credentials.yml by module path."""
