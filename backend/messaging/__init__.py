"""messaging area."""
