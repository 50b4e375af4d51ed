"""sales area."""
