"""trends area."""
