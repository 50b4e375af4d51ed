"""Everything that extends Rasa: stores, NLU components, speed patches, channels, the encoder."""
