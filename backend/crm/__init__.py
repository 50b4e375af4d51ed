"""crm area."""
