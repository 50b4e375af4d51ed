"""Admin API and staff pages for what admins do: catalog, orders, outbox, contacts, CRM, trends."""
