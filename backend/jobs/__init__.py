"""jobs area."""
