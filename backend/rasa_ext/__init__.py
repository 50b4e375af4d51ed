"""Extensions of Rasa that the product plugs in by module path."""
